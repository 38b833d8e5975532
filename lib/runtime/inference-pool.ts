// A pool of worker threads, each holding a session of every model version
// placed in the workers. Not piscina: its tasks are stateless and go to any
// worker, while sessions are state that must be loaded into, and released
// from, every worker. The threads start with the first load: a server whose
// models all run on the main thread (runtime/placement) has none.

import { InferenceTimeoutError, OverloadedError, UnavailableError } from '../errors'
import { fileIdentity, unchanged } from './file-identity'
import type { ModelRuntime, Placement } from './model-runtime'
import { PoolThread, type ThreadRequest } from './pool-thread'
import { Turns } from './turns'
import type { SessionMetadata } from './worker-messages'
import { transferList, type TensorMap } from '../tensors/tensor'

/**
 * How much earlier than its delay a timer may fire by performance.now():
 * a worker busy that much less than timeoutMs when a run times out is still stuck.
 */
const TIMER_EARLY_MS = 25

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

/** Every version in the worker threads: the runtime before placement, and the one placement moves versions into. */
export class InferencePool implements ModelRuntime {
  private readonly workers: PoolThread[] = []
  /** Workers set aside in a run past its deadline, until they end. */
  private readonly stuck = new Set<PoolThread>()
  /** What every worker must hold: key → model file, and the file's identity when it was opened. */
  private readonly loaded = new Map<string, { path: string, identity: string }>()
  private closing = false
  /** Loads, warm-ups and unloads, one after another (see load). */
  private readonly turns = new Turns()
  /** A request has run here (not only warm-ups): loads from now on must not hold runs (see load). */
  private served = false

  constructor (private readonly options: InferencePoolOptions) {
    for (const key of ['workers', 'threadsPerSession', 'maxPending', 'timeoutMs'] as const) {
      if (!Number.isInteger(options[key]) || options[key] < 1) throw new RangeError(`InferencePool: ${key} must be a positive integer, got ${options[key]}`)
    }
  }

  /** The worker threads it runs (once started by a first load): runs at once. */
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

  private spawn (): PoolThread {
    return new PoolThread((thread, code) => {
      if (this.stuck.delete(thread)) this.options.onStuckChange?.(this.stuck.size, 'ended')
      this.replace(thread, code)
    })
  }

  /**
   * A worker whose current run has gone past the deadline cannot be stopped
   * (terminating a thread inside session.run aborts the process) and would
   * hold every run queued behind it: it is set aside, to exit when its run
   * ends, and a new worker takes its place, up to maxStuckThreads.
   */
  private setAsideIfStuck (worker: PoolThread): void {
    const index = this.workers.indexOf(worker)
    // Node arms a timer from the loop's time, taken when the loop's turn
    // began: it can fire before timeoutMs has passed on performance.now()'s
    // clock (0.4 ms early was seen, in a turn that had done little else).
    const early = Math.min(TIMER_EARLY_MS, this.options.timeoutMs / 2)
    if (index === -1 || this.closing || !worker.busyFor(this.options.timeoutMs - early)) return
    if (this.stuck.size >= (this.options.maxStuckThreads ?? Infinity)) return
    this.stuck.add(worker)
    worker.setAside(new UnavailableError('the inference thread this run waited for is stuck in a run past INFERENCE_TIMEOUT_MS; retry'))
    this.workers[index] = this.respawn()
    this.options.onStuckChange?.(this.stuck.size, 'set-aside')
  }

  /** A new worker loading every session the pool holds; ready when they are loaded. */
  private respawn (): PoolThread {
    const fresh = this.spawn()
    fresh.ready = false
    // A session that no longer loads (its file removed) fails only its own
    // runs on this worker; retrying the whole worker would loop forever.
    const reloads = [...this.loaded].map(([key, { path }]) =>
      fresh.call(this.loadRequest(key, path)))
    fresh.reloaded = Promise.allSettled(reloads).then(() => { fresh.ready = true })
    return fresh
  }

  // A worker that dies (a runtime abort, an out-of-memory) takes its calls
  // with it (failed by PoolThread); the pool starts a new worker.
  private replace (worker: PoolThread, code: number): void {
    const index = this.workers.indexOf(worker)
    if (this.closing || index === -1) return
    this.options.onWorkerExit?.(code)
    this.workers[index] = this.respawn()
  }

  /** Loads a model file into every worker, starting them if need be; resolves with its metadata. */
  async load (key: string, path: string): Promise<SessionMetadata> {
    if (this.closing) throw new UnavailableError('the server is shutting down')
    if (!this.started) for (let i = 0; i < this.options.workers; i++) this.workers.push(this.spawn())
    // Loads take turns: one that starts while another runs must not find
    // the pool idle and queue in every worker behind it, where the first
    // runs of that other model would then wait too.
    return await this.turns.take(async () => {
      const identity = await fileIdentity(path)
      // Until the pool has served a request (start-up: only warm-ups run) no
      // request can wait behind a load: every worker opens the file at once.
      // Once it serves, opening a session (synchronous in its thread: seconds
      // for a large graph) must not hold the runs queued behind it.
      const metadata = !this.served || this.loaded.size === 0
        ? (await Promise.all(this.workers.map(worker => worker.call(this.loadRequest(key, path)))))[0].metadata as SessionMetadata
        : await this.openWhileServing(key, path)
      this.loaded.set(key, { path, identity })
      return metadata
    })
  }

  /** Rolling over the workers; with one, beside it when every held file is unchanged, or else in it. */
  private async openWhileServing (key: string, path: string): Promise<SessionMetadata> {
    if (this.workers.length > 1) return await this.loadRolling(key, path)
    if (await unchanged(this.loaded.values())) return await this.loadBeside(key, path)
    return (await this.workers[0].call(this.loadRequest(key, path))).metadata as SessionMetadata
  }

  private loadRequest (key: string, path: string): ThreadRequest {
    return { op: 'load', key, path, threads: this.options.threadsPerSession }
  }

  /** Whether a load, warm-up or unload is under way or waiting: a session opened now would wait for it. */
  get changing (): boolean {
    return this.turns.busy
  }

  /** `work` on `worker` while it takes no new runs: the others serve. */
  private async apart<T> (worker: PoolThread, work: () => Promise<T>): Promise<T> {
    worker.opening = true
    try {
      return await work()
    } finally {
      worker.opening = false
    }
  }

  /** Each worker in turn opens the session, taking no new runs meanwhile: the others serve. */
  private async loadRolling (key: string, path: string): Promise<SessionMetadata> {
    let metadata: SessionMetadata | undefined
    for (const worker of [...this.workers]) metadata = (await this.apart(worker, async () => await worker.call(this.loadRequest(key, path)))).metadata
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
    const opened = await Promise.all([...[...this.loaded].map(([k, held]) => [k, held.path]), [key, path]].map(([k, p]) => fresh.call(this.loadRequest(k, p))))
      .catch((error: unknown) => {
        fresh.close()
        throw error
      })
    const index = this.workers.indexOf(old)
    if (index === -1 || this.closing) {
      // Replaced meanwhile (it died or was set aside): its replacement
      // reloads what the pool held, and opens this session in place.
      fresh.close()
      if (!this.closing) await this.workers[0].call(this.loadRequest(key, path))
    } else {
      this.workers[index] = fresh
      old.close()
    }
    return opened[opened.length - 1].metadata as SessionMetadata
  }

  /** Runs once on every worker (a warm-up): `feeds` makes each its own tensors, since they are transferred. */
  async warm (key: string, feeds: () => TensorMap, fetches: string[]): Promise<void> {
    await this.turns.take(async () => {
      // A first run can take seconds (the runtime's lazy set-up): once the
      // pool serves, one worker at a time, as for a load.
      if (!this.served || this.workers.length === 1) await Promise.all(this.workers.map(async () => await this.dispatch(key, feeds(), fetches)))
      else for (const worker of [...this.workers]) await this.apart(worker, async () => await this.dispatch(key, feeds(), fetches, worker))
    })
  }

  /** Releases a model's sessions in every worker. */
  async unload (key: string): Promise<void> {
    await this.turns.take(async () => {
      this.loaded.delete(key)
      await Promise.all(this.workers.map(worker => worker.call({ op: 'unload', key })))
    })
  }

  /** Runs a loaded model on the least busy worker. */
  async run (key: string, feeds: TensorMap, fetches: string[]): Promise<TensorMap> {
    return (await this.runTimed(key, feeds, fetches)).outputs
  }

  /** run(), and how long the run itself took in its worker; `deadline` (Date.now() time): still queued in the worker then, it is dropped unrun. */
  async runTimed (key: string, feeds: TensorMap, fetches: string[], deadline?: number): Promise<{ outputs: TensorMap, ms: number }> {
    this.served = true
    return await this.dispatch(key, feeds, fetches, undefined, deadline)
  }

  private async dispatch (key: string, feeds: TensorMap, fetches: string[], to?: PoolThread, deadline?: number): Promise<{ outputs: TensorMap, ms: number }> {
    if (this.closing) throw new UnavailableError('the server is shutting down')
    if (this.pending >= this.options.maxPending) {
      throw new OverloadedError(`inference queue is full (${this.options.maxPending} runs pending); retry shortly`)
    }
    const worker = to ?? this.workers
      .filter(candidate => candidate.ready && !candidate.opening)
      .reduce<PoolThread | undefined>((best, candidate) => best === undefined || candidate.running < best.running ? candidate : best, undefined)
    if (worker === undefined) throw new OverloadedError('no inference worker is ready; retry shortly')
    worker.running++
    const reply = worker.call({ op: 'run', key, feeds, fetches, ...(deadline === undefined ? {} : { deadline }) }, transferList(feeds))
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
      worker.close()
      // A replacement still reloading the sessions is inside the runtime, where
      // a terminate aborts the process (seen on Node 24 with a large model that
      // took over a second to open): its grace starts once its reloads end.
      await Promise.race([worker.reloaded, exited])
      const timer = setTimeout(() => { worker.thread.terminate().catch(() => {}) }, graceMs)
      await exited
      clearTimeout(timer)
    }))
  }
}
