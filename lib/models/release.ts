// Counting the runs that hold a model version, and letting go of versions:
// no new run starts on a released version, the runs already holding it are
// waited for (on their end, not by polling), then its sessions are released.

import type { ModelRuntime } from '../runtime/model-runtime'
import type { ModelVersion } from './version'

/** Called when a version's last run ends, while a release waits for it. */
const drainWaiters = new WeakMap<ModelVersion, Set<() => void>>()

/** Runs `run` counted in `model.inflight`, so a release waits for it. */
export async function holding<T> (model: ModelVersion, run: () => Promise<T>): Promise<T> {
  model.inflight++
  try {
    return await run()
  } finally {
    model.inflight--
    if (model.inflight === 0) for (const wake of drainWaiters.get(model) ?? []) wake()
  }
}

/** Settles when no run holds `model`, or after `timeoutMs`, whichever comes first. */
function drained (model: ModelVersion, timeoutMs: number): Promise<void> {
  if (model.inflight === 0) return Promise.resolve()
  return new Promise(resolve => {
    const waiters = drainWaiters.get(model) ?? new Set()
    drainWaiters.set(model, waiters)
    const wake = (): void => {
      clearTimeout(timer)
      waiters.delete(wake)
      resolve()
    }
    const timer = setTimeout(wake, timeoutMs)
    waiters.add(wake)
  })
}

/**
 * Stops handing out `versions`, waits for the runs holding them (at most
 * `drainTimeoutMs`: by then the pool has answered each, if only with a
 * timeout), then frees their sessions.
 */
export async function releaseVersions (runtime: ModelRuntime, versions: ModelVersion[], drainTimeoutMs: number): Promise<void> {
  // Flagged first, so a run that starts while we wait is refused rather than
  // sent after the session is gone; the ones already counted are waited for.
  for (const version of versions) version.released = true
  await Promise.all(versions.map(version => drained(version, drainTimeoutMs + batchingDelayMs(version))))
  await Promise.allSettled(versions.map(version => runtime.unload(version.key)))
}

// A run may wait this long in the dynamic batcher before the pool's timeout starts.
function batchingDelayMs (version: ModelVersion): number {
  return version.batcher === undefined ? 0 : version.config.dynamic_batching?.max_queue_delay_ms ?? 0
}
