import t from 'tap'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { DynamicBatcher, type RunBatch } from '../../../lib/runtime/dynamic-batcher'
import { InferencePool } from '../../../lib/runtime/inference-pool'
import type { TimedRun } from '../../../lib/runtime/model-runtime'
import { SINGLE_TURNS_TO_START_AT_ONCE } from '../../../lib/runtime/turn-group'
import { ModelManager } from '../../../lib/models/manager'
import type { TensorData, TensorMap } from '../../../lib/tensors/tensor'
import { bundledRepository } from '../../helpers/build-app'

const rows = (values: number[][]): TensorData => ({ type: 'float32', dims: [values.length, values[0].length], data: Float32Array.from(values.flat()) })

/** A model that doubles x, recording each batch it runs. */
function doubler (): { run: RunBatch, batches: number[] } {
  const batches: number[] = []
  const run: RunBatch = async (feeds) => {
    const x = feeds.x
    batches.push(x.dims[0])
    return { y: { type: 'float32', dims: x.dims, data: (x.data as Float32Array).map(v => v * 2) } }
  }
  return { run, batches }
}

const values = (outputs: TensorMap) => Array.from(outputs.y.data as Float32Array)

t.test('requests arriving within the delay share one run and get their own rows back', async t => {
  const { run, batches } = doubler()
  const batcher = new DynamicBatcher(run, { maxBatchSize: 16, maxQueueDelayMs: 20 })
  const results = await Promise.all([
    batcher.submit({ x: rows([[1, 2]]) }, ['y']),
    batcher.submit({ x: rows([[3, 4], [5, 6]]) }, ['y']),
    batcher.submit({ x: rows([[7, 8], [9, 10], [11, 12]]) }, ['y'])
  ])
  t.same(batches, [6], 'one run of 6 rows')
  t.same(results.map(values), [[2, 4], [6, 8, 10, 12], [14, 16, 18, 20, 22, 24]])
  t.same(results.map(result => result.y.dims), [[1, 2], [2, 2], [3, 2]])
})

t.test('onBatch: each batch\'s rows and how long each of its requests waited; queuedRows meanwhile', async t => {
  const { run } = doubler()
  const seen: Array<{ rows: number, waitsMs: number[] }> = []
  const batcher = new DynamicBatcher(run, { maxBatchSize: 16, maxQueueDelayMs: 30, onBatch: (rows, waitsMs) => seen.push({ rows, waitsMs }) })
  const first = batcher.submit({ x: rows([[1, 2]]) }, ['y'])
  const second = batcher.submit({ x: rows([[3, 4], [5, 6]]) }, ['y'])
  t.equal(batcher.queuedRows, 3, 'three rows wait')
  await Promise.all([first, second])
  t.equal(batcher.queuedRows, 0)
  t.equal(seen.length, 1)
  t.equal(seen[0].rows, 3)
  t.equal(seen[0].waitsMs.length, 2, 'one wait per request')
  t.ok(seen[0].waitsMs.every(ms => ms >= 25 && ms < 1000), `each waited out the delay (${seen[0].waitsMs.map(ms => ms.toFixed(1)).join(', ')} ms)`)
})

t.test('a batch at the preferred size runs without waiting for the delay', async t => {
  const { run, batches } = doubler()
  const batcher = new DynamicBatcher(run, { maxBatchSize: 8, maxQueueDelayMs: 60_000, preferredBatchSize: 2 })
  const start = Date.now()
  await Promise.all([batcher.submit({ x: rows([[1]]) }, ['y']), batcher.submit({ x: rows([[2]]) }, ['y'])])
  t.same(batches, [2])
  t.ok(Date.now() - start < 1000, 'did not wait a minute')
})

t.test('a request that would overflow max_batch_size sends the gathered batch first', async t => {
  const { run, batches } = doubler()
  const batcher = new DynamicBatcher(run, { maxBatchSize: 4, maxQueueDelayMs: 10 })
  const results = await Promise.all([
    batcher.submit({ x: rows([[1], [2], [3]]) }, ['y']),
    batcher.submit({ x: rows([[4], [5], [6]]) }, ['y'])
  ])
  t.same(batches, [3, 3])
  t.same(results.map(values), [[2, 4, 6], [8, 10, 12]])
})

t.test('requests with other row shapes or fetches are not merged', async t => {
  const { run, batches } = doubler()
  const batcher = new DynamicBatcher(run, { maxBatchSize: 16, maxQueueDelayMs: 0 })
  await Promise.all([
    batcher.submit({ x: rows([[1, 2]]) }, ['y']),
    batcher.submit({ x: rows([[1, 2, 3]]) }, ['y']),
    batcher.submit({ x: rows([[1, 2]]) }, ['y', 'z'])
  ])
  t.same(batches.sort(), [1, 1, 1])
})

t.test('a failed run rejects every request of the batch when each fails alone too', async t => {
  const batcher = new DynamicBatcher(async () => { throw new Error('runtime failed') }, { maxBatchSize: 16, maxQueueDelayMs: 5 })
  const results = await Promise.allSettled([batcher.submit({ x: rows([[1]]) }, ['y']), batcher.submit({ x: rows([[2]]) }, ['y'])])
  t.same(results.map(result => result.status), ['rejected', 'rejected'])
  t.match((results[0] as PromiseRejectedResult).reason, { message: 'runtime failed' })
})

t.test('one request that fails the merged run fails alone: the others are run again without it', async t => {
  const { run: double, batches } = doubler()
  // Like an embedding lookup with an index out of range: any batch holding a 999 fails.
  const run: RunBatch = async (feeds, fetches) => {
    if ((feeds.x.data as Float32Array).includes(999)) {
      batches.push(-feeds.x.dims[0])
      throw new Error('indices element out of data bounds, idx=999')
    }
    return double(feeds, fetches)
  }
  const batcher = new DynamicBatcher(run, { maxBatchSize: 16, maxQueueDelayMs: 20 })
  const results = await Promise.allSettled([
    batcher.submit({ x: rows([[1]]) }, ['y']),
    batcher.submit({ x: rows([[999]]) }, ['y']),
    batcher.submit({ x: rows([[3], [4]]) }, ['y'])
  ])
  t.same(results.map(result => result.status), ['fulfilled', 'rejected', 'fulfilled'])
  t.same(values((results[0] as PromiseFulfilledResult<TensorMap>).value), [2])
  t.same(values((results[2] as PromiseFulfilledResult<TensorMap>).value), [6, 8])
  t.match((results[1] as PromiseRejectedResult).reason, { message: /idx=999/ })
  t.same(batches, [-4, 1, -1, 2], 'the merged run failed, then each request ran alone')
})

t.test('outputs without the batch as first dimension cannot be split', async t => {
  const batcher = new DynamicBatcher(async () => ({ y: { type: 'float32', dims: [1], data: new Float32Array(1) } }), { maxBatchSize: 16, maxQueueDelayMs: 5 })
  const results = await Promise.allSettled([batcher.submit({ x: rows([[1]]) }, ['y']), batcher.submit({ x: rows([[2]]) }, ['y'])])
  t.match((results[1] as PromiseRejectedResult).reason, { message: "output 'y' has 1 rows for a batch of 2: this model cannot be batched" })
})

t.test('string and int64 tensors are concatenated and split too', async t => {
  const seen: TensorMap[] = []
  const batcher = new DynamicBatcher(async feeds => { seen.push(feeds); return { s: feeds.s, n: feeds.n } }, { maxBatchSize: 16, maxQueueDelayMs: 5 })
  const one = (text: string, n: bigint): TensorMap => ({
    s: { type: 'string', dims: [1, 1], data: [text] },
    n: { type: 'int64', dims: [1], data: BigInt64Array.of(n) }
  })
  const [a, b] = await Promise.all([batcher.submit(one('a', 2n ** 60n), ['s', 'n']), batcher.submit(one('b', -1n), ['s', 'n'])])
  t.same(seen[0].s.data, ['a', 'b'])
  t.same(Array.from(seen[0].n.data as BigInt64Array), [2n ** 60n, -1n])
  t.same(a.s.data, ['a'])
  t.same(Array.from(b.n.data as BigInt64Array), [-1n])
})

t.test('with a free worker a request goes at once; while busy, requests gather and go when it frees', async t => {
  const batches: number[] = []
  let release: () => void = () => {}
  const run: RunBatch = async feeds => {
    batches.push(feeds.x.dims[0])
    if (batches.length === 1) await new Promise<void>(resolve => { release = resolve })
    return { y: feeds.x }
  }
  // A minute of delay: nothing below may wait for it.
  const batcher = new DynamicBatcher(run, { maxBatchSize: 16, maxQueueDelayMs: 60_000, maxConcurrentBatches: 1 })
  const first = batcher.submit({ x: rows([[1]]) }, ['y'])
  await new Promise(resolve => setImmediate(resolve))
  t.same(batches, [1], 'the first request went at once')
  const waiting = [2, 3, 4].map(v => batcher.submit({ x: rows([[v]]) }, ['y']))
  await new Promise(resolve => setTimeout(resolve, 20))
  t.same(batches, [1], 'the others wait while the worker is busy')
  release()
  const results = await Promise.all([first, ...waiting])
  t.same(batches, [1, 3], 'then go together as soon as it frees')
  t.same(results.map(values), [[1], [2], [3], [4]])
})

t.test('iris, configured for dynamic batching, merges concurrent requests with the same answers', async t => {
  class CountingPool extends InferencePool {
    rowsPerRun: number[] = []
    override async runTimed (key: string, feeds: TensorMap, fetches: string[], deadline?: number): Promise<TimedRun> {
      this.rowsPerRun.push(Object.values(feeds)[0].dims[0])
      return await super.runTimed(key, feeds, fetches, deadline)
    }
  }
  const pool = new CountingPool({ workers: 1, threadsPerSession: 1, maxPending: 64, timeoutMs: 10_000 })
  const manager = new ModelManager(pool, { repository: bundledRepository })
  t.teardown(() => manager.close())
  await manager.loadAll()
  const iris = manager.registry.get('iris')
  t.ok(iris.batcher, 'models/iris/config.json asks for dynamic batching')
  pool.rowsPerRun = []

  const flowers = Array.from({ length: 20 }, (_, i) => [4.5 + i * 0.15, 3.0, 1.0 + i * 0.25, 0.1 + i * 0.12])
  const feed = (flower: number[]): TensorMap => ({ features: { type: 'float32', dims: [1, 4], data: Float32Array.from(flower) } })
  const batched = await Promise.all(flowers.map(flower => manager.run(iris, feed(flower))))
  t.ok(pool.rowsPerRun.length < 20, `20 requests took ${pool.rowsPerRun.length} runs`)
  t.equal(pool.rowsPerRun.reduce((a, b) => a + b, 0), 20)

  const alone = await Promise.all(flowers.map(flower => pool.run(iris.key, feed(flower), ['label', 'probabilities'])))
  t.same(batched.map(result => Array.from(result.label.data as BigInt64Array)), alone.map(result => Array.from(result.label.data as BigInt64Array)))
  batched.forEach((result, i) => {
    const mine = Array.from(result.probabilities.data as Float32Array)
    const theirs = Array.from(alone[i].probabilities.data as Float32Array)
    t.ok(mine.every((p, j) => Math.abs(p - theirs[j]) < 1e-6), `flower ${i}: same probabilities`)
  })
})

t.test('a batched model: one request a turn skips the idle batcher as a batch of one, counted as one; requests that arrive together are merged again', async t => {
  const pool = new InferencePool({ workers: 1, threadsPerSession: 1, maxPending: 64, timeoutMs: 10_000 })
  const batchSizes: number[] = []
  const manager = new ModelManager(pool, { repository: bundledRepository, observer: { batch: (_model, rows) => batchSizes.push(rows) } })
  t.teardown(() => manager.close())
  await manager.loadAll()
  const iris = manager.registry.get('iris')
  const batcher = iris.batcher
  if (batcher === undefined) throw new Error('models/iris/config.json asks for dynamic batching')
  const feed = (petal: number): TensorMap => ({ features: { type: 'float32', dims: [1, 4], data: Float32Array.of(5, 3, petal, 0.2) } })
  const before = structuredClone(iris.statistics.data)

  t.equal(batcher.alone, true, 'a new batcher: nothing gathered yet')
  await manager.run(iris, feed(1.4))
  await nextTurn()
  t.equal(batcher.alone, true, 'after a turn of one request')
  // A turn of two: the batcher gathers from the next turn on.
  await Promise.all([manager.run(iris, feed(1.5)), manager.run(iris, feed(1.6))])
  await nextTurn()
  t.equal(batcher.alone, false, 'after a turn of two requests')
  await Promise.all([1, 2, 3, 4, 5].map(async petal => await manager.run(iris, feed(petal))))
  t.same(batchSizes, [1, 1, 1, 5], 'three batches of one at once, then the five of one turn merged')
  const after = iris.statistics.data
  t.equal(after.executionCount - before.executionCount, 4, 'four runs')
  t.equal(after.inferenceCount - before.inferenceCount, 8, 'eight rows')
  t.equal(after.inference.queue.count - before.inference.queue.count, 8, 'each request counted its queue')

  for (let turn = 0; turn < SINGLE_TURNS_TO_START_AT_ONCE; turn++) {
    await manager.run(iris, feed(1.4))
    await nextTurn()
  }
  t.equal(batcher.alone, true, `${SINGLE_TURNS_TO_START_AT_ONCE} batches of one in a row: at once again`)
})
