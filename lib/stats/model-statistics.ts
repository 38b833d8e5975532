// Per-model-version statistics as Triton counts them (its statistics
// extension): requests that succeeded or failed and how long they took, how
// long they queued, and the three stages of computing them (inputs made
// ready, the run, outputs taken apart); runs (executions) by batch size;
// cache hits and misses. Times are kept in ns, as the protocol gives them.
//
// Counted as Triton does: a cache hit is a success and a queue entry (of no
// wait) but not an inference, an execution or a compute stage; a request
// merged into a batch counts the batch's compute stages as its own.

/** A count and the total of its durations, in ns (the protocol's StatisticDuration). */
export interface Duration {
  count: number
  ns: number
}

export const INFERENCE_STAGES = ['success', 'fail', 'queue', 'compute_input', 'compute_infer', 'compute_output', 'cache_hit', 'cache_miss'] as const
export type InferenceStage = typeof INFERENCE_STAGES[number]
export const BATCH_STAGES = ['compute_input', 'compute_infer', 'compute_output'] as const
export type BatchStage = typeof BATCH_STAGES[number]

/** One version's statistics, plain data: what a process sends its primary to sum (WORKERS > 1). */
export interface VersionStatistics {
  name: string
  version: number
  /** ms since the epoch; 0 before the first. */
  lastInference: number
  /** Rows of successful inferences, cache hits not included. */
  inferenceCount: number
  /** Runs of the model, cache hits not included. */
  executionCount: number
  inference: Record<InferenceStage, Duration>
  /** By batch size (rows of one run). */
  batches: Record<number, Record<BatchStage, Duration>>
}

/** The stages of one run, in ms: inputs joined and made tensors, the run, outputs split. */
export interface RunTimes {
  inputMs: number
  inferMs: number
  outputMs: number
}

const NS_PER_MS = 1e6

function stages<K extends string> (names: readonly K[]): Record<K, Duration> {
  return Object.fromEntries(names.map(name => [name, { count: 0, ns: 0 }])) as Record<K, Duration>
}

function add (duration: Duration, count: number, ms: number): void {
  duration.count += count
  duration.ns += Math.round(ms * NS_PER_MS)
}

export function emptyStatistics (name: string, version: number): VersionStatistics {
  return { name, version, lastInference: 0, inferenceCount: 0, executionCount: 0, inference: stages(INFERENCE_STAGES), batches: {} }
}

/** The statistics of one served version; a reload makes a new version and so starts again, as Triton's do. */
export class VersionStatisticsRecorder {
  readonly data: VersionStatistics

  constructor (name: string, version: number) {
    this.data = emptyStatistics(name, version)
  }

  /** A run of `rows` rows that served `requests` requests, each of which counts its stages. */
  executed (rows: number, requests: number, times: RunTimes): void {
    const { data } = this
    data.executionCount++
    data.inferenceCount += rows
    const batch = data.batches[rows] ??= stages(BATCH_STAGES)
    add(batch.compute_input, 1, times.inputMs)
    add(batch.compute_infer, 1, times.inferMs)
    add(batch.compute_output, 1, times.outputMs)
    add(data.inference.compute_input, requests, times.inputMs * requests)
    add(data.inference.compute_infer, requests, times.inferMs * requests)
    add(data.inference.compute_output, requests, times.outputMs * requests)
  }

  /** Time a request waited for its run (the batcher's queue). */
  queued (waitMs: number): void {
    add(this.data.inference.queue, 1, waitMs)
  }

  /**
   * A request answered or refused: its whole time in the data plane; for
   * one answered by a run, the time it spent making its tensors from the
   * protocol's body and its answer from the outputs, added to the run's
   * input and output stages (counted by the run).
   */
  request (outcome: { ok: boolean, cached: boolean, ms: number, decodeMs: number, encodeMs: number }): void {
    const { inference } = this.data
    this.data.lastInference = Date.now()
    add(outcome.ok ? inference.success : inference.fail, 1, outcome.ms)
    if (!outcome.ok || outcome.cached) return
    add(inference.compute_input, 0, outcome.decodeMs)
    add(inference.compute_output, 0, outcome.encodeMs)
  }

  /** A prediction cache lookup: a hit (also a queue entry of no wait) or a miss, and how long the lookup took. */
  cacheLookup (hit: boolean, ms: number): void {
    const { inference } = this.data
    add(hit ? inference.cache_hit : inference.cache_miss, 1, ms)
    if (hit) add(inference.queue, 1, 0)
  }
}

function addDuration (into: Duration, from: Duration): void {
  into.count += from.count
  into.ns += from.ns
}

/** The sum of several processes' statistics of the same versions (WORKERS > 1). */
export function sumStatistics (parts: readonly VersionStatistics[][]): VersionStatistics[] {
  const sums = new Map<string, VersionStatistics>()
  for (const part of parts) {
    for (const stats of part) {
      const key = `${stats.name}\0${stats.version}`
      let sum = sums.get(key)
      if (sum === undefined) sums.set(key, sum = emptyStatistics(stats.name, stats.version))
      sum.lastInference = Math.max(sum.lastInference, stats.lastInference)
      sum.inferenceCount += stats.inferenceCount
      sum.executionCount += stats.executionCount
      for (const stage of INFERENCE_STAGES) addDuration(sum.inference[stage], stats.inference[stage])
      for (const [size, batch] of Object.entries(stats.batches)) {
        const into = sum.batches[Number(size)] ??= stages(BATCH_STAGES)
        for (const stage of BATCH_STAGES) addDuration(into[stage], batch[stage])
      }
    }
  }
  return [...sums.values()]
}
