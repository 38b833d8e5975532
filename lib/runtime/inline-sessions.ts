// Sessions on the main thread, for model versions whose runs take
// microseconds: a hop to a worker thread would cost the event loop more than
// the run itself. runtime/placement decides which versions run here and
// keeps each run short enough that the loop stays responsive.

import type { TensorMap } from '../tensors/tensor'
import { OrtSession } from './ort-session'
import type { SessionMetadata } from './worker-messages'

export class InlineSessions {
  // No queue and no bound of its own: a run is synchronous, so none ever
  // waits behind another here (the batcher ahead of it holds the waiting).
  private readonly sessions = new Map<string, OrtSession>()

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
    return session.run(feeds, fetches, measureCpu)
  }

  async close (): Promise<void> {
    const sessions = [...this.sessions.values()]
    this.sessions.clear()
    for (const session of sessions) session.release()
  }
}
