// Statistics counted as Triton counts them, and summed over processes.

import t from 'tap'
import { VersionStatisticsRecorder, sumStatistics } from '../../../lib/stats/model-statistics'

t.test('a merged run counts once as an execution and for each of its requests', async t => {
  const stats = new VersionStatisticsRecorder('iris', 1)
  stats.queued(1)
  stats.queued(3)
  stats.executed(5, 2, { inputMs: 0.5, inferMs: 2, outputMs: 0.25 })
  for (const ms of [4, 6]) stats.request({ ok: true, cached: false, ms, decodeMs: 0.1, encodeMs: 0.2 })
  const { data } = stats
  t.equal(data.executionCount, 1)
  t.equal(data.inferenceCount, 5, 'rows, not requests')
  t.strictSame(data.inference.queue, { count: 2, ns: 4_000_000 })
  t.strictSame(data.inference.success, { count: 2, ns: 10_000_000 })
  t.strictSame(data.inference.compute_infer, { count: 2, ns: 4_000_000 }, 'each request counts the run it was merged into')
  t.strictSame(data.inference.compute_input, { count: 2, ns: 1_200_000 }, 'the run\'s inputs for each, and each one\'s own decode')
  t.strictSame(data.inference.compute_output, { count: 2, ns: 900_000 })
  t.strictSame(data.batches[5], { compute_input: { count: 1, ns: 500_000 }, compute_infer: { count: 1, ns: 2_000_000 }, compute_output: { count: 1, ns: 250_000 } })
  t.ok(data.lastInference > Date.now() - 1000, 'the last inference is now')
})

t.test('a cache hit is a success and a queue entry, not an inference, an execution or a compute stage; a failure is a failure', async t => {
  const stats = new VersionStatisticsRecorder('iris', 1)
  stats.cacheLookup(true, 0.05)
  stats.request({ ok: true, cached: true, ms: 0.3, decodeMs: 0.1, encodeMs: 0.1 })
  stats.cacheLookup(false, 0.02)
  stats.request({ ok: false, cached: false, ms: 1, decodeMs: 0.1, encodeMs: 0 })
  const { data } = stats
  t.strictSame(data.inference.success, { count: 1, ns: 300_000 })
  t.strictSame(data.inference.fail, { count: 1, ns: 1_000_000 })
  t.strictSame(data.inference.cache_hit, { count: 1, ns: 50_000 })
  t.strictSame(data.inference.cache_miss, { count: 1, ns: 20_000 })
  t.strictSame(data.inference.queue, { count: 1, ns: 0 })
  t.equal(data.inferenceCount, 0)
  t.equal(data.executionCount, 0)
  for (const stage of ['compute_input', 'compute_infer', 'compute_output'] as const) t.strictSame(data.inference[stage], { count: 0, ns: 0 }, stage)
})

t.test('the processes\' statistics sum by model version and batch size; the last inference is the latest', async t => {
  const a = new VersionStatisticsRecorder('iris', 1)
  const b = new VersionStatisticsRecorder('iris', 1)
  const other = new VersionStatisticsRecorder('iris', 2)
  a.executed(1, 1, { inputMs: 1, inferMs: 1, outputMs: 1 })
  b.executed(1, 1, { inputMs: 2, inferMs: 2, outputMs: 2 })
  b.executed(4, 3, { inputMs: 1, inferMs: 1, outputMs: 1 })
  a.data.lastInference = 10
  b.data.lastInference = 20
  const [sum, second] = sumStatistics([[a.data], [b.data, other.data]])
  t.equal(sum.executionCount, 3)
  t.equal(sum.inferenceCount, 6)
  t.equal(sum.lastInference, 20)
  t.strictSame(sum.batches[1].compute_infer, { count: 2, ns: 3_000_000 })
  t.strictSame(sum.batches[4].compute_infer, { count: 1, ns: 1_000_000 })
  t.strictSame(sum.inference.compute_infer, { count: 5, ns: 6_000_000 })
  t.equal(second.version, 2, 'another version apart')
  t.equal(a.data.executionCount, 1, 'the parts are not changed')
})
