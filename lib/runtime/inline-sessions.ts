// Sessions on the main thread, for model versions whose runs take
// microseconds: a hop to a worker thread would cost the event loop more than
// the run itself. runtime/placement decides which versions run here and
// keeps each run short enough that the loop stays responsive.

import { OverloadedError } from '../errors'
import type { TensorMap } from '../tensors/tensor'
import { OrtSession } from './ort-session'
import type { SessionMetadata } from './worker-messages'

export class InlineSessions {
  private readonly sessions = new Map<string, OrtSession>()
  /** Runs under way (a run is synchronous: none waits for another). */
  pending = 0

  constructor (private readonly maxPending: number) {}

  has (key: string): boolean {
    return this.sessions.has(key)
  }

  /** Opens a session with one intra-op thread (the loop's own), replacing one of the same key. */
  async load (key: string, path: string): Promise<SessionMetadata> {
    const session = OrtSession.open(path, 1)
    this.sessions.get(key)?.release()
    this.sessions.set(key, session)
    return session.metadata
  }

  async unload (key: string): Promise<void> {
    const session = this.sessions.get(key)
    this.sessions.delete(key)
    session?.release()
  }

  /** Runs on the main thread, now; `ms` is the run alone (see OrtSession.run for `measureCpu`). */
  run (key: string, feeds: TensorMap, fetches: string[], measureCpu = true): { outputs: TensorMap, ms: number } {
    const session = this.sessions.get(key)
    if (session === undefined) throw new Error(`model ${key} is not loaded on the main thread`)
    if (this.pending >= this.maxPending) throw new OverloadedError(`inference queue is full (${this.maxPending} runs pending); retry shortly`)
    this.pending++
    try {
      return session.run(feeds, fetches, measureCpu)
    } finally {
      this.pending--
    }
  }

  async close (): Promise<void> {
    const sessions = [...this.sessions.values()]
    this.sessions.clear()
    for (const session of sessions) session.release()
  }
}
