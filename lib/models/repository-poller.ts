// MODEL_CONTROL_MODE=poll: the repository is scanned every
// REPOSITORY_POLL_SECS, and each model folder whose fingerprint
// (repository-fingerprint) differs from what was last applied is loaded
// again, or unloaded when its folder is gone. A difference is applied only
// when two scans in a row see it the same: a file still being written (its
// size or time still changing) is never loaded.

import { performance } from 'node:perf_hooks'

export interface RepositoryChange {
  name: string
  /** load: new or changed (a version, a file, config.json); unload: the folder is gone. */
  kind: 'load' | 'unload'
}

export interface RepositoryPollerOptions {
  /** Every model folder's fingerprint; throws when the repository cannot be listed (then nothing changes). */
  scan: () => Promise<Map<string, string>>
  /** Applies one change; the poller waits for it before the next. */
  apply: (change: RepositoryChange) => Promise<void>
  intervalMs: number
  /** After each scan: how long it took, or why it failed. */
  onScan?: (ms: number, error?: unknown) => void
  /** A change whose apply threw (it is not tried again until its folder changes again). */
  onError?: (change: RepositoryChange, error: unknown) => void
}

export class RepositoryPoller {
  /** What is loaded: each model folder's fingerprint when it was last applied. */
  private applied = new Map<string, string>()
  /** Folders the last scan saw differ from `applied`, as it saw them (undefined: gone). */
  private pending = new Map<string, string | undefined>()
  private timer?: NodeJS.Timeout
  private running: Promise<void> = Promise.resolve()
  private stopped = false

  constructor (private readonly options: RepositoryPollerOptions) {}

  /** Starts polling from `baseline`, the fingerprints of what the first load read. */
  start (baseline: Map<string, string>): void {
    this.applied = new Map(baseline)
    this.schedule()
  }

  /** One scan, and the changes it confirms applied in name order. */
  async poll (): Promise<void> {
    const started = performance.now()
    let current: Map<string, string>
    try {
      current = await this.options.scan()
    } catch (error) {
      // An unreadable repository (a volume being remounted) unloads nothing.
      this.options.onScan?.(performance.now() - started, error)
      return
    }
    this.options.onScan?.(performance.now() - started)
    for (const change of this.confirmed(current)) {
      if (this.stopped) return
      const print = current.get(change.name)
      try {
        await this.options.apply(change)
      } catch (error) {
        this.options.onError?.(change, error)
      }
      if (print === undefined) this.applied.delete(change.name)
      else this.applied.set(change.name, print)
    }
  }

  /** Stops polling; resolves once a change being applied is done. */
  async stop (): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.running
  }

  /** The differences seen the same way by this scan and the one before; the others wait for the next. */
  private confirmed (current: Map<string, string>): RepositoryChange[] {
    const names = [...new Set([...this.applied.keys(), ...current.keys()])].sort()
    const changes: RepositoryChange[] = []
    const pending = new Map<string, string | undefined>()
    for (const name of names) {
      const now = current.get(name)
      if (now === this.applied.get(name)) continue
      if (this.pending.has(name) && this.pending.get(name) === now) changes.push({ name, kind: now === undefined ? 'unload' : 'load' })
      else pending.set(name, now)
    }
    this.pending = pending
    return changes
  }

  private schedule (): void {
    if (this.stopped) return
    this.timer = setTimeout(() => {
      this.running = this.poll().finally(() => this.schedule())
    }, this.options.intervalMs)
    this.timer.unref()
  }
}
