// Inference placed where it is cheapest while the event loop stays
// responsive. onnxruntime-node's run is synchronous: a version whose runs
// take microseconds runs inline on the main thread (a hop to a worker thread
// would cost the loop more than the run); a version whose runs are long runs
// in the worker threads. Each version measures its runs (warm-up included)
// and moves when its cost crosses the bound, with hysteresis: to the workers
// above INLINE_RUN_MAX_US, back only below half of it. A single request
// predicted to run far longer than the bound goes to the workers whatever
// the placement, so a large dynamic dimension never stalls the loop.

import { readFile, stat } from 'node:fs/promises'
import type { TensorData, TensorMap } from '../tensors/tensor'
import { concat } from './dynamic-batcher'
import { InferencePool, type InferencePoolOptions } from './inference-pool'
import { InlineSessions } from './inline-sessions'
import { graphNodeCount } from './onnx-graph-size'
import type { ModelRuntime, Placement, PlacementMode, TimedRun } from './model-runtime'
import { RunCost, inputElements } from './run-cost'
import {
  CALIBRATION_ROWS, FAST_RUNS_TO_RETURN, ONE_REQUEST_FACTOR, PROBE_INTERVAL_MS, PROBES_TO_RETURN,
  SLOW_RUNS_TO_MOVE, SLOW_STREAK_MS, WAIT_FACTOR, WARM_UP_RUNS
} from './placement-rules'
import type { SessionMetadata } from './worker-messages'

export interface PlacementOptions extends InferencePoolOptions {
  /** The server's placement for models whose config.json names none (INFERENCE_PLACEMENT). */
  mode: PlacementMode
  /** The longest average run, in ms, a version may take on the main thread (INLINE_RUN_MAX_US). */
  inlineMaxMs: number
  /** Model files above this open in the workers: opening them on the main thread would stall it. */
  inlineMaxFileBytes: number
  /** Graphs of more nodes than this open in the workers too: opening costs about 35 µs a node, whatever the file's size. */
  inlineMaxNodes: number
  /** How often a version moved to the workers runs one batch on the main thread to see whether it may come back (default PROBE_INTERVAL_MS). */
  probeIntervalMs?: number
  /** Told of every move, and why. */
  onMove?: (key: string, to: Placement, reason: string) => void
}

/** `rows` copies of a one-row sample, as one batch. */
function batchOf (sample: TensorMap, rows: number): TensorMap {
  return Object.fromEntries(Object.entries(sample).map(([name, tensor]) => [name, concat(Array<TensorData>(rows).fill(tensor))]))
}

interface Placed {
  path: string
  mode: PlacementMode
  where: Placement
  /** May run on the main thread: placed there by configuration, or a small file. */
  inlineAllowed: boolean
  cost: RunCost
  /** Consecutive runs above the bound (and when the first of them ended), and below half of it. */
  slowRuns: number
  slowSince: number
  fastRuns: number
  /** In the workers: when the next probe on the main thread is due, and the fast probes in a row. */
  nextProbe: number
  fastProbes: number
  /**
   * The most input elements run on the main thread, and in the workers (0:
   * none yet). A run larger than any before grows the runtime's memory arena
   * (iris: 2.6 ms for its first 30-row batch, 0.3 ms for the next): it is
   * not counted, or the first batches of a burst would move a tiny model.
   */
  inlinePeak: number
  workerPeak: number
  /**
   * Runs on the main thread measure the process's CPU time too (a getrusage
   * call of several µs: a tiny model's run takes about as long): set by a run
   * whose wall time alone passed half the bound, which may be a preempted
   * run and is not counted; cleared by a measured run below half the bound.
   */
  measureCpu: boolean
  /** The sessions in the workers, and on the main thread: loaded or loading. */
  workers?: Promise<unknown>
  /** The sessions in the workers are open. */
  workersOpen: boolean
  inline?: Promise<unknown>
  /** Every input's first dimension is the batch. */
  batched: boolean
}

export class PlacedRuntime implements ModelRuntime {
  readonly pool: InferencePool
  private readonly inline: InlineSessions
  private readonly placed = new Map<string, Placed>()

  constructor (private readonly options: PlacementOptions) {
    this.pool = new InferencePool(options)
    this.inline = new InlineSessions()
  }

  get timeoutMs (): number {
    return this.pool.timeoutMs
  }

  get pending (): number {
    return this.pool.pending
  }

  get stuckThreads (): number {
    return this.pool.stuckThreads
  }

  placementOf (key: string): Placement | undefined {
    return this.placed.get(key)?.where
  }

  concurrency (key: string): number {
    return this.placed.get(key)?.where === 'inline' ? 1 : this.pool.concurrency()
  }

  async load (key: string, path: string, mode: PlacementMode = this.options.mode): Promise<SessionMetadata> {
    const inlineAllowed = mode === 'inline' || (mode === 'auto' && await this.opensQuickly(path))
    const where: Placement = mode === 'worker' || !inlineAllowed ? 'worker' : 'inline'
    const placed: Placed = { path, mode, where, inlineAllowed, cost: new RunCost(), slowRuns: 0, slowSince: 0, fastRuns: 0, nextProbe: 0, fastProbes: 0, inlinePeak: 0, workerPeak: 0, measureCpu: false, batched: false, workersOpen: false }
    const loading = where === 'inline' ? this.inline.load(key, path) : this.pool.load(key, path)
    if (where === 'inline') placed.inline = loading
    else placed.workers = loading
    const metadata = await loading
    placed.workersOpen = where === 'worker'
    placed.batched = metadata.inputs.every(spec => spec.shape.length > 0 && spec.shape[0] === -1)
    this.placed.set(key, placed)
    return metadata
  }

  /** Whether a session of the file opens in a few milliseconds: a small file of a small graph. */
  private async opensQuickly (path: string): Promise<boolean> {
    if ((await stat(path)).size > this.options.inlineMaxFileBytes) return false
    const nodes = graphNodeCount(await readFile(path))
    return nodes !== undefined && nodes <= this.options.inlineMaxNodes
  }

  /**
   * Warm-up: on the main thread, a first run and WARM_UP_RUNS measured
   * ones, the fastest deciding (and, for a version with a batch dimension,
   * the same with CALIBRATION_ROWS rows, so the cost per row is known before
   * traffic); or once per worker. A version placed by measurement whose
   * measured run already takes longer than the bound moves to the workers
   * now, before it serves.
   */
  async warm (key: string, feeds: () => TensorMap, fetches: string[]): Promise<void> {
    const placed = this.get(key)
    if (placed.where === 'inline') {
      const bound = this.options.inlineMaxMs
      this.runInline(key, placed, feeds(), fetches)
      let ms = Infinity
      for (let run = 0; run < WARM_UP_RUNS; run++) ms = Math.min(ms, this.measureInline(key, placed, feeds(), fetches))
      if (placed.mode !== 'auto' || ms <= bound) {
        if (placed.batched) {
          this.runInline(key, placed, batchOf(feeds(), CALIBRATION_ROWS), fetches)
          this.measureInline(key, placed, batchOf(feeds(), CALIBRATION_ROWS), fetches)
        }
        return
      }
      this.move(key, placed, 'worker', `its warm-up run took ${Math.round(ms * 1000)} µs; INLINE_RUN_MAX_US is ${Math.round(bound * 1000)}`)
    }
    await this.inWorkers(key, placed)
    await this.pool.warm(key, feeds, fetches)
    placed.workerPeak = Math.max(placed.workerPeak, inputElements(feeds()))
  }

  async run (key: string, feeds: TensorMap, fetches: string[], deadline?: number): Promise<TensorMap> {
    return (await this.runTimed(key, feeds, fetches, deadline)).outputs
  }

  /** run(), and its time: on the main thread the run alone, in the workers from dispatch to answer (as the batcher counts a batch). */
  async runTimed (key: string, feeds: TensorMap, fetches: string[], deadline?: number): Promise<TimedRun> {
    const placed = this.get(key)
    const elements = inputElements(feeds)
    const predicted = placed.cost.predictMs(elements)
    const tooLong = placed.mode === 'auto' && predicted !== undefined && predicted > ONE_REQUEST_FACTOR * this.options.inlineMaxMs
    if (placed.where === 'inline' && !tooLong) return this.runInline(key, placed, feeds, fetches)
    if (placed.where === 'inline' && !placed.workersOpen && (this.pool.changing || (predicted ?? 0) <= WAIT_FACTOR * this.options.inlineMaxMs)) {
      // Its worker sessions are not open: they open now, and the main thread
      // serves this request rather than wait for them (threads to start, or
      // another model's load to end: seconds), unless it would hold the loop
      // for long while nothing else loads. The graph is small enough to have
      // been placed inline, and MAX_TENSOR_ELEMENTS bounds the request.
      this.inWorkers(key, placed).catch(() => {})
      return this.runInline(key, placed, feeds, fetches)
    }
    if (!tooLong && this.probeDue(key, placed)) return this.probe(key, placed, feeds, fetches)
    await this.inWorkers(key, placed)
    const sent = performance.now()
    const { outputs, ms } = await this.pool.runTimed(key, feeds, fetches, deadline)
    if (elements <= placed.workerPeak) this.observe(key, placed, ms, elements)
    else placed.workerPeak = elements
    return { outputs, ms: performance.now() - sent }
  }

  async unload (key: string): Promise<void> {
    const placed = this.placed.get(key)
    this.placed.delete(key)
    const releases: Array<Promise<void>> = [this.inline.unload(key)]
    if (placed?.workers !== undefined) releases.push(placed.workers.then(() => this.pool.unload(key), () => {}))
    await Promise.all(releases)
  }

  async close (): Promise<void> {
    await Promise.all([this.pool.close(), this.inline.close()])
  }

  private get (key: string): Placed {
    const placed = this.placed.get(key)
    if (placed === undefined) throw new Error(`model ${key} is not loaded`)
    return placed
  }

  private runInline (key: string, placed: Placed, feeds: TensorMap, fetches: string[]): TimedRun {
    const measured = placed.measureCpu
    const run = this.inline.run(key, feeds, fetches, measured)
    const { ms } = run
    const suspect = ms >= this.options.inlineMaxMs / 2
    placed.measureCpu = suspect
    if (suspect && !measured) return run
    const elements = inputElements(feeds)
    if (elements <= placed.inlinePeak) this.observe(key, placed, ms, elements)
    else placed.inlinePeak = elements
    return run
  }

  /** Whether a version in the workers, allowed on the main thread and open there, should run this batch there as a probe. */
  private probeDue (key: string, placed: Placed): boolean {
    if (placed.where !== 'worker' || placed.mode !== 'auto' || !placed.inlineAllowed || !this.inline.has(key)) return false
    const now = performance.now()
    if (now < placed.nextProbe) return false
    placed.nextProbe = now + (this.options.probeIntervalMs ?? PROBE_INTERVAL_MS)
    return true
  }

  private probe (key: string, placed: Placed, feeds: TensorMap, fetches: string[]): TimedRun {
    const run = this.inline.run(key, feeds, fetches)
    const { ms } = run
    placed.fastProbes = ms < this.options.inlineMaxMs / 2 ? placed.fastProbes + 1 : 0
    if (placed.fastProbes >= PROBES_TO_RETURN && this.placed.get(key) === placed && placed.where === 'worker') {
      this.move(key, placed, 'inline', `${PROBES_TO_RETURN} runs on the main thread in a row took less than half of INLINE_RUN_MAX_US (${Math.round(this.options.inlineMaxMs * 1000)} µs), the last ${Math.round(ms * 1000)} µs`)
    }
    return run
  }

  /** A warm-up run on the main thread: its time, counted in the version's cost. */
  private measureInline (key: string, placed: Placed, feeds: TensorMap, fetches: string[]): number {
    const elements = inputElements(feeds)
    const { ms } = this.inline.run(key, feeds, fetches)
    placed.cost.observe(ms, elements)
    return ms
  }

  /** The version's sessions in the workers, loaded once; a failed load is tried again by the next run. */
  private async inWorkers (key: string, placed: Placed): Promise<void> {
    placed.workers ??= this.pool.load(key, placed.path).then(() => { placed.workersOpen = true }, (error: unknown) => {
      placed.workers = undefined
      throw error
    })
    await placed.workers
  }

  /**
   * Counts the run, and moves a version whose runs have crossed the bound:
   * out after SLOW_RUNS_TO_MOVE runs in a row above it over SLOW_STREAK_MS
   * (their sessions in the
   * workers load meanwhile), back after FAST_RUNS_TO_RETURN below half of it
   * (once its session on the main thread is open; the workers serve meanwhile).
   */
  private observe (key: string, placed: Placed, ms: number, elements: number): void {
    placed.cost.observe(ms, elements)
    if (placed.mode !== 'auto') return
    const bound = this.options.inlineMaxMs
    placed.slowRuns = ms > bound ? placed.slowRuns + 1 : 0
    if (placed.slowRuns === 1) placed.slowSince = performance.now()
    placed.fastRuns = ms < bound / 2 ? placed.fastRuns + 1 : 0
    const reason = (): string => `its runs take ${Math.round((placed.cost.typicalMs ?? ms) * 1000)} µs on average; INLINE_RUN_MAX_US is ${Math.round(bound * 1000)}`
    if (placed.where === 'inline' && placed.slowRuns >= SLOW_RUNS_TO_MOVE && performance.now() - placed.slowSince >= SLOW_STREAK_MS) {
      this.move(key, placed, 'worker', reason())
    } else if (placed.where === 'worker' && placed.inlineAllowed && placed.fastRuns >= FAST_RUNS_TO_RETURN) {
      placed.inline ??= this.inline.load(key, placed.path).catch(() => { placed.inline = undefined })
      placed.inline.then(() => {
        if (this.placed.get(key) === placed && placed.where === 'worker' && this.inline.has(key)) this.move(key, placed, 'inline', reason())
      }, () => {})
    }
  }

  /**
   * Runs go to `to`: to the main thread at once (its session is open), to
   * the workers once their sessions are. Until then the main thread serves:
   * opening sessions in the workers may wait behind another model's load,
   * and a move must never make requests wait for one.
   */
  private move (key: string, placed: Placed, to: Placement, reason: string): void {
    placed.slowRuns = 0
    placed.fastRuns = 0
    placed.fastProbes = 0
    placed.nextProbe = performance.now() + (this.options.probeIntervalMs ?? PROBE_INTERVAL_MS)
    if (to === 'inline') {
      placed.where = 'inline'
      this.options.onMove?.(key, to, reason)
      return
    }
    const toWorkers = (): void => {
      if (this.placed.get(key) !== placed || placed.where === 'worker') return
      placed.where = 'worker'
      this.options.onMove?.(key, to, reason)
    }
    if (placed.workersOpen) toWorkers()
    else this.inWorkers(key, placed).then(toWorkers, () => {})
  }
}
