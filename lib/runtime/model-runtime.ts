// What the models layer needs of the place sessions live and run: the
// inference pool alone (every version in the worker threads), or the placed
// runtime (each version where it is cheapest, runtime/placement).

import type { TensorMap } from '../tensors/tensor'
import type { SessionMetadata } from './worker-messages'

export type Placement = 'inline' | 'worker'
/** A configuration's placement: measured (auto), or forced. */
export type PlacementMode = 'auto' | Placement

/** A run's outputs, and how long it took in ms (see each runtime's runTimed). */
export interface TimedRun {
  outputs: TensorMap
  ms: number
}

export interface ModelRuntime {
  /** A run not answered by then is answered 504 (INFERENCE_TIMEOUT_MS). */
  readonly timeoutMs: number
  /** Runs accepted and not yet answered. */
  readonly pending: number
  /** Worker threads set aside in runs past timeoutMs that have not ended. */
  readonly stuckThreads: number
  load: (key: string, path: string, mode?: PlacementMode) => Promise<SessionMetadata>
  unload: (key: string) => Promise<void>
  /** `deadline` (Date.now() time): a run still queued in a worker then is dropped unrun. */
  run: (key: string, feeds: TensorMap, fetches: string[], deadline?: number) => Promise<TensorMap>
  /** run(), and how long the run took. */
  runTimed: (key: string, feeds: TensorMap, fetches: string[], deadline?: number) => Promise<TimedRun>
  /** Runs once on every session of `key` (a warm-up); `feeds` makes each run its own tensors. */
  warm: (key: string, feeds: () => TensorMap, fetches: string[]) => Promise<void>
  /** Batches of `key` that can run at once. */
  concurrency: (key: string) => number
  placementOf: (key: string) => Placement | undefined
  close: () => Promise<void>
}
