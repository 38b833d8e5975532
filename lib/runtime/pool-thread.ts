// One worker thread of the inference pool, and the calls it has not answered.
// The thread handles its messages in order, so the pool can tell how long it
// has been busy with its current one (a run past its deadline: stuck).

import { Worker } from 'node:worker_threads'
import { extname, join } from 'node:path'
import { DeadlineExceededError, ModelRunError } from '../errors'
import type { WorkerReply, WorkerRequest } from './worker-messages'

/** A message to the thread, before the pool numbers it. */
export type ThreadRequest = WorkerRequest extends infer R ? R extends WorkerRequest ? Omit<R, 'id'> : never : never

interface Pending {
  resolve: (reply: WorkerReply & { ok: true }) => void
  reject: (error: Error) => void
}

// Compiled, the pool runs from dist/lib/*.js; under the test runner from .ts.
const workerFile = join(__dirname, `inference-worker${extname(__filename)}`)

export class PoolThread {
  readonly thread: Worker
  /** Runs sent and not yet answered. */
  running = 0
  /** False while a replacement reloads the sessions. */
  ready = true
  /** Settles when a replacement's reloads have ended (inside the runtime until then). */
  reloaded: Promise<unknown> = Promise.resolve()
  /** True while it opens or warms up a new session (a rolling load): new runs go to the others. */
  opening = false
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  /** When its current message began (performance.now()); undefined while idle. */
  private busySince: number | undefined
  /** Shared with the thread: 1 once it is set aside, so it skips the runs queued to it. */
  private readonly setAsideFlag = new Int32Array(new SharedArrayBuffer(4))

  /** `onExit`: the thread ended, asked or not; its unanswered calls have been failed. */
  constructor (onExit: (thread: PoolThread, code: number) => void) {
    this.thread = new Worker(workerFile, { workerData: { setAside: this.setAsideFlag } })
    this.thread.on('message', (reply: WorkerReply) => {
      // Messages are handled in order: the next one, if any, begins now.
      this.busySince = this.pending.size > 1 ? performance.now() : undefined
      const call = this.pending.get(reply.id)
      if (call === undefined) return
      this.pending.delete(reply.id)
      if (reply.ok) call.resolve(reply)
      else call.reject(reply.refused === true ? new ModelRunError(reply.error) : reply.expired === true ? new DeadlineExceededError(reply.error) : new Error(reply.error))
    })
    this.thread.on('error', () => { /* reported through 'exit' */ })
    this.thread.on('exit', code => {
      this.failAll(new Error(`inference worker exited with code ${code}`))
      onExit(this, code)
    })
  }

  call (request: ThreadRequest, transfer: ArrayBuffer[] = []): Promise<WorkerReply & { ok: true }> {
    const id = this.nextId++
    if (this.pending.size === 0) this.busySince = performance.now()
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.thread.postMessage({ ...request, id }, transfer)
    })
  }

  /** Busy with one message for at least `ms`. */
  busyFor (ms: number): boolean {
    return this.busySince !== undefined && performance.now() - this.busySince >= ms
  }

  /** Stuck in its current run: the runs queued behind it fail with `error` (and are skipped in the thread), and it exits when the run ends. */
  setAside (error: Error): void {
    Atomics.store(this.setAsideFlag, 0, 1)
    this.failAll(error)
    this.close()
  }

  /** Asks the thread to exit once the messages already sent to it are handled. */
  close (): void {
    this.thread.postMessage({ id: 0, op: 'close' } satisfies WorkerRequest)
  }

  private failAll (error: Error): void {
    for (const call of this.pending.values()) call.reject(error)
    this.pending.clear()
    this.running = 0
  }
}
