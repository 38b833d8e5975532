// A pool of worker threads, each holding a session of every model version
// placed in the workers. Not piscina: its tasks are stateless and go to any
// worker, while sessions are state that must be loaded into, and released
// from, every worker. The threads start with the first load: a server whose
// models all run on the main thread (runtime/placement) has none.

import { stat } from 'node:fs/promises'
import { Worker } from 'node:worker_threads'
import { extname, join } from 'node:path'
import { InferenceTimeoutError, ModelRunError, OverloadedError, UnavailableError } from '../errors'
import type { ModelRuntime, Placement } from './model-runtime'
import type { SessionMetadata, WorkerReply, WorkerRequest } from './worker-messages'
import { transferList, type TensorMap } from '../tensors/tensor'

export interface InferencePoolOptions {
  /** Worker threads, each able to run one inference at a time. */
  workers: number
  /** onnxruntime intra-op threads per session. */
  threadsPerSession: number
  /** Runs accepted at once (running and waiting); more are refused with 503. */
  maxPending: number
  /** A run not answered by then is answered 504; the worker still finishes it. */
  timeoutMs: number
  /** Called when a worker exits unasked (and is replaced), with its exit code. */
  onWorkerExit?: (code: number) => void
  /**
   * Threads stuck in a run past timeoutMs that the pool sets aside and
   * replaces; at this many it replaces no more (they hold memory and a core).
   */
  maxStuckThreads?: number
  /** Called when a worker is set aside (stuck), and when a stuck one finally ends, with the count now stuck. */
  onStuckChange?: (stuck: number, event: 'set-aside' | 'ended') => void
}

type Request = WorkerRequest extends infer R ? R extends WorkerRequest ? Omit<R, 'id'> : never : never

interface Pending {
  resolve: (reply: WorkerReply & { ok: true }) => void
  reject: (error: Error) => void
}

interface PoolWorker {
  thread: Worker
  pending: Map<number, Pending>
  /** Runs sent and not yet answered by this worker. */
  running: number
  /** False while a replacement worker reloads the sessions. */
  ready: boolean
  /** True while it opens a new session (a rolling load): new runs go to the others. */
  opening: boolean
  /** When its current message began (performance.now()); undefined while idle. */
  busySince: number | undefined
  /** Shared with the thread: 1 once it is set aside. */
  setAside: Int32Array
}

/** What tells one file's bytes from another's without reading them: device, inode, size, change time. */
async function fileIdentity (path: string): Promise<string> {
  const info = await stat(path, { bigint: true })
  return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`
}

// Compiled, the pool runs from dist/lib/*.js; under the test runner from .ts.
const workerFile = join(__dirname, `inference-worker${extname(__filename)}`)

/** Every version in the worker threads: the runtime before placement, and the one placement moves versions into. */
export class InferencePool implements ModelRuntime {
  private readonly workers: PoolWorker[] = []
  /** Workers set aside in a run past its deadline, until they end. */
  private readonly stuck = new Set<PoolWorker>()
  /** What every worker must hold: key → model file, and the file's identity when it was opened. */
  private readonly loaded = new Map<string, { path: string, identity: string }>()
  private nextId = 1
  private closing = false
  /** Loads and unloads while the pool serves, one after another (see load). */
  private changes: Promise<unknown> = Promise.resolve()

  constructor (private readonly options: InferencePoolOptions) {
    for (const key of ['workers', 'threadsPerSession', 'maxPending', 'timeoutMs'] as const) {
      if (!Number.isInteger(options[key]) || options[key] < 1) throw new RangeError(`InferencePool: ${key} must be a positive integer, got ${options[key]}`)
    }
  }

  /** The worker threads it runs, once started by a first load. */
  get size (): number {
    return this.options.workers
  }

  concurrency (): number {
    return this.options.workers
  }

  placementOf (key: string): Placement | undefined {
    return this.loaded.has(key) ? 'worker' : undefined
  }

  /** Whether the threads have been started (by a first load). */
  get started (): boolean {
    return this.workers.length > 0
  }

  /** A run not answered by then is answered 504 (INFERENCE_TIMEOUT_MS). */
  get timeoutMs (): number {
    return this.options.timeoutMs
  }

  /** Runs sent to workers and not yet answered, across the pool. */
  get pending (): number {
    return this.workers.reduce((sum, worker) => sum + worker.running, 0)
  }

  /** Threads set aside in runs past their deadline that have not ended yet. */
  get stuckThreads (): number {
    return this.stuck.size
  }

  private spawn (): PoolWorker {
    const setAside = new Int32Array(new SharedArrayBuffer(4))
    const thread = new Worker(workerFile, { workerData: { setAside } })
    const worker: PoolWorker = { thread, pending: new Map(), running: 0, ready: true, opening: false, busySince: undefined, setAside }
    thread.on('message', (reply: WorkerReply) => {
      // Messages are handled in order: the next one, if any, begins now.
      worker.busySince = worker.pending.size > 1 ? performance.now() : undefined
      const call = worker.pending.get(reply.id)
      if (call === undefined) return
      worker.pending.delete(reply.id)
      if (reply.ok) call.resolve(reply)
      else call.reject(reply.refused === true ? new ModelRunError(reply.error) : new Error(reply.error))
    })
    thread.on('error', () => { /* reported through 'exit' */ })
    thread.on('exit', code => {
      if (this.stuck.delete(worker)) this.options.onStuckChange?.(this.stuck.size, 'ended')
      this.replace(worker, code)
    })
    return worker
  }

  /**
   * A worker whose current run has gone past the deadline cannot be stopped
   * (terminating a thread inside session.run aborts the process) and would
   * hold every run queued behind it: it is set aside, to exit when its run
   * ends, and a new worker takes its place, up to maxStuckThreads.
   */
  private setAsideIfStuck (worker: PoolWorker): void {
    const index = this.workers.indexOf(worker)
    if (index === -1 || this.closing || worker.busySince === undefined) return
    if (performance.now() - worker.busySince < this.options.timeoutMs) return
    if (this.stuck.size >= (this.options.maxStuckThreads ?? Infinity)) return
    Atomics.store(worker.setAside, 0, 1)
    this.stuck.add(worker)
    for (const call of worker.pending.values()) call.reject(new UnavailableError('the inference thread this run waited for is stuck in a run past INFERENCE_TIMEOUT_MS; retry'))
    worker.pending.clear()
    worker.running = 0
    worker.thread.postMessage({ id: 0, op: 'close' } satisfies WorkerRequest)
    this.workers[index] = this.respawn()
    this.options.onStuckChange?.(this.stuck.size, 'set-aside')
  }

  /** A new worker loading every session the pool holds; ready when they are loaded. */
  private respawn (): PoolWorker {
    const fresh = this.spawn()
    fresh.ready = false
    // A session that no longer loads (its file removed) fails only its own
    // runs on this worker; retrying the whole worker would loop forever.
    const reloads = [...this.loaded].map(([key, { path }]) =>
      this.call(fresh, { op: 'load', key, path, threads: this.options.threadsPerSession }))
    Promise.allSettled(reloads).then(() => { fresh.ready = true })
    return fresh
  }

  // A worker that dies (a runtime abort, an out-of-memory) takes its calls
  // with it; the pool answers them with an error and starts a new worker.
  private replace (worker: PoolWorker, code: number): void {
    for (const call of worker.pending.values()) call.reject(new Error(`inference worker exited with code ${code}`))
    worker.pending.clear()
    worker.running = 0
    const index = this.workers.indexOf(worker)
    if (this.closing || index === -1) return
    this.options.onWorkerExit?.(code)
    this.workers[index] = this.respawn()
  }

  private call (worker: PoolWorker, request: Request, transfer: ArrayBuffer[] = []): Promise<WorkerReply & { ok: true }> {
    const id = this.nextId++
    if (worker.pending.size === 0) worker.busySince = performance.now()
    return new Promise((resolve, reject) => {
      worker.pending.set(id, { resolve, reject })
      worker.thread.postMessage({ ...request, id }, transfer)
    })
  }

  /** Loads a model file into every worker, starting them if need be; resolves with its metadata. */
  async load (key: string, path: string): Promise<SessionMetadata> {
    if (this.closing) throw new UnavailableError('the server is shutting down')
    if (!this.started) for (let i = 0; i < this.options.workers; i++) this.workers.push(this.spawn())
    // Before anything is served every worker opens the file at once.
    const identity = await fileIdentity(path)
    if (this.loaded.size === 0) {
      const replies = await Promise.all(this.workers.map(worker => this.call(worker, this.loadRequest(key, path))))
      this.loaded.set(key, { path, identity })
      return replies[0].metadata as SessionMetadata
    }
    // Once the pool serves, opening a session (synchronous in its thread:
    // seconds for a large graph) must not hold the runs queued behind it.
    return await this.inTurn(async () => {
      const metadata = await this.openWhileServing(key, path)
      this.loaded.set(key, { path, identity })
      return metadata
    })
  }

  /** Rolling over the workers; with one, beside it when every held file is unchanged, or else in it. */
  private async openWhileServing (key: string, path: string): Promise<SessionMetadata> {
    if (this.workers.length > 1) return await this.loadRolling(key, path)
    if (await this.sessionsReopenable()) return await this.loadBeside(key, path)
    return (await this.call(this.workers[0], this.loadRequest(key, path))).metadata as SessionMetadata
  }

  /** Whether every session held could be opened again from the same bytes: no file changed or went away since. */
  private async sessionsReopenable (): Promise<boolean> {
    const now = await Promise.all([...this.loaded.values()].map(async ({ path, identity }) => await fileIdentity(path).catch(() => '') === identity))
    return now.every(Boolean)
  }

  private loadRequest (key: string, path: string): Request {
    return { op: 'load', key, path, threads: this.options.threadsPerSession }
  }

  /** Runs `change` after the loads and unloads before it. */
  private async inTurn<T> (change: () => Promise<T>): Promise<T> {
    const turn = this.changes.then(change)
    this.changes = turn.catch(() => {})
    return await turn
  }

  /** Each worker in turn opens the session, taking no new runs meanwhile: the others serve. */
  private async loadRolling (key: string, path: string): Promise<SessionMetadata> {
    let metadata: SessionMetadata | undefined
    for (const worker of [...this.workers]) {
      worker.opening = true
      try {
        metadata = (await this.call(worker, this.loadRequest(key, path))).metadata
      } finally {
        worker.opening = false
      }
    }
    return metadata as SessionMetadata
  }

  /**
   * The only worker cannot stop serving to open a session: a new thread
   * opens every session beside it and then takes its place, and the old one
   * exits after the runs queued to it. (Only when every file it holds is
   * unchanged: a file replaced under a served version must not slip in
   * without a reload of that version. Otherwise the load waits in the worker.)
   */
  private async loadBeside (key: string, path: string): Promise<SessionMetadata> {
    const old = this.workers[0]
    const fresh = this.spawn()
    const opened = await Promise.all([...[...this.loaded].map(([k, held]) => [k, held.path]), [key, path]].map(([k, p]) => this.call(fresh, this.loadRequest(k, p))))
      .catch((error: unknown) => {
        fresh.thread.postMessage({ id: 0, op: 'close' } satisfies WorkerRequest)
        throw error
      })
    const index = this.workers.indexOf(old)
    if (index === -1 || this.closing) {
      // Replaced meanwhile (it died or was set aside): its replacement
      // reloads what the pool held, and opens this session in place.
      fresh.thread.postMessage({ id: 0, op: 'close' } satisfies WorkerRequest)
      if (!this.closing) await this.call(this.workers[0], this.loadRequest(key, path))
    } else {
      this.workers[index] = fresh
      old.thread.postMessage({ id: 0, op: 'close' } satisfies WorkerRequest)
    }
    return opened[opened.length - 1].metadata as SessionMetadata
  }

  /** Runs once on every worker (a warm-up): `feeds` makes each its own tensors, since they are transferred. */
  async warm (key: string, feeds: () => TensorMap, fetches: string[]): Promise<void> {
    await Promise.all(this.workers.map(() => this.run(key, feeds(), fetches)))
  }

  /** Releases a model's sessions in every worker. */
  async unload (key: string): Promise<void> {
    await this.inTurn(async () => {
      this.loaded.delete(key)
      await Promise.all(this.workers.map(worker => this.call(worker, { op: 'unload', key })))
    })
  }

  /** Runs a loaded model on the least busy worker. */
  async run (key: string, feeds: TensorMap, fetches: string[]): Promise<TensorMap> {
    return (await this.runTimed(key, feeds, fetches)).outputs
  }

  /** run(), and how long the run itself took in its worker. */
  async runTimed (key: string, feeds: TensorMap, fetches: string[]): Promise<{ outputs: TensorMap, ms: number }> {
    if (this.closing) throw new UnavailableError('the server is shutting down')
    if (this.pending >= this.options.maxPending) {
      throw new OverloadedError(`inference queue is full (${this.options.maxPending} runs pending); retry shortly`)
    }
    const worker = this.workers
      .filter(candidate => candidate.ready && !candidate.opening)
      .reduce<PoolWorker | undefined>((best, candidate) => best === undefined || candidate.running < best.running ? candidate : best, undefined)
    if (worker === undefined) throw new OverloadedError('no inference worker is ready; retry shortly')
    worker.running++
    const reply = this.call(worker, { op: 'run', key, feeds, fetches }, transferList(feeds))
      .finally(() => { worker.running = Math.max(0, worker.running - 1) })
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new InferenceTimeoutError(`inference did not finish within ${this.options.timeoutMs} ms`)), this.options.timeoutMs)
    })
    try {
      const { outputs, ms } = await Promise.race([reply, timeout])
      return { outputs: outputs as TensorMap, ms: ms ?? 0 }
    } catch (error) {
      if (error instanceof InferenceTimeoutError) this.setAsideIfStuck(worker)
      throw error
    } finally {
      clearTimeout(timer)
      // A late answer after a timeout must not become an unhandled rejection.
      reply.catch(() => {})
    }
  }

  /**
   * Stops every worker once its runs are done. Terminating a thread in the
   * middle of session.run aborts the whole process (onnxruntime throws across
   * the native boundary), so each worker is asked to exit, which it does after
   * the runs already queued to it; `graceMs` later, stragglers are terminated.
   */
  async close (graceMs = this.options.timeoutMs + 1000): Promise<void> {
    if (this.closing) return
    this.closing = true
    // Stuck threads are not waited for: their runs may never end.
    for (const worker of this.stuck) worker.thread.unref()
    await Promise.all(this.workers.map(async worker => {
      const exited = new Promise<void>(resolve => worker.thread.once('exit', () => resolve()))
      worker.thread.postMessage({ id: 0, op: 'close' } satisfies WorkerRequest)
      const timer = setTimeout(() => { worker.thread.terminate().catch(() => {}) }, graceMs)
      await exited
      clearTimeout(timer)
    }))
  }
}
