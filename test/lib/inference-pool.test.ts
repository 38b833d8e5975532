import t from 'tap'
import { join } from 'node:path'
import type { Worker } from 'node:worker_threads'
import { InferenceTimeoutError, OverloadedError } from '../../lib/errors'
import { InferencePool, type InferencePoolOptions } from '../../lib/inference-pool'
import type { TensorMap } from '../../lib/tensor'

const models = join(__dirname, '..', '..', 'models')
const irisFile = join(models, 'iris', '1', 'model.onnx')
const widthFile = join(models, 'iris-petal-width', '1', 'model.onnx')

const setosa = [5.1, 3.5, 1.4, 0.2]
const virginica = [6.7, 3.0, 5.2, 2.3]

function features (rows: number[][]): TensorMap {
  return { features: { type: 'float32', dims: [rows.length, 4], data: Float32Array.from(rows.flat()) } }
}

function newPool (t: { teardown: (fn: () => unknown) => void }, options: Partial<InferencePoolOptions> = {}): InferencePool {
  const pool = new InferencePool({ workers: 1, threadsPerSession: 1, maxPending: 16, timeoutMs: 10000, ...options })
  t.teardown(() => pool.close())
  return pool
}

// The pool keeps its workers private; the tests reach them to kill one, as a crash would.
interface PoolInternals {
  workers: Array<{ thread: Worker, ready: boolean }>
}

function internals (pool: InferencePool): PoolInternals {
  return pool as unknown as PoolInternals
}

async function until (condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

t.test('loads a model, describes it, and runs it', async t => {
  const pool = newPool(t, { workers: 2 })
  t.equal(pool.size, 2)
  t.equal(pool.pending, 0)
  const metadata = await pool.load('iris/1', irisFile)
  t.same(metadata.inputs, [{ name: 'features', type: 'float32', shape: [-1, 4] }], 'a dynamic dimension is -1')
  t.same(metadata.outputs, [
    { name: 'label', type: 'int64', shape: [-1] },
    { name: 'probabilities', type: 'float32', shape: [-1, 3] }
  ])
  t.same(metadata.nonTensorOutputs, [])
  t.same(metadata.dimNames.features, ['batch', null])

  const feeds = features([setosa, virginica])
  const outputs = await pool.run('iris/1', feeds, ['label', 'probabilities'])
  t.same(Object.keys(outputs).sort(), ['label', 'probabilities'])
  t.equal(outputs.label.type, 'int64')
  t.same(outputs.label.dims, [2])
  t.same(Array.from(outputs.label.data as BigInt64Array), [0n, 2n])
  t.same(outputs.probabilities.dims, [2, 3])
  const probabilities = Array.from(outputs.probabilities.data as Float32Array)
  t.ok(Math.abs(probabilities.slice(0, 3).reduce((a, b) => a + b) - 1) < 1e-5, 'a probability row sums to 1')
  t.ok(probabilities[0] > 0.9, 'setosa is confident')
  t.equal(feeds.features.data.length, 0, 'the feeds were moved to the worker, not copied')
  t.equal(pool.pending, 0, 'nothing pending after the answer')

  const onlyLabel = await pool.run('iris/1', features([virginica]), ['label'])
  t.same(Object.keys(onlyLabel), ['label'], 'only the fetched outputs come back')

  // Both workers hold the session: concurrent runs spread across them and all succeed
  const runs = await Promise.all(Array.from({ length: 6 }, () => pool.run('iris/1', features([setosa]), ['label'])))
  t.same(runs.map(run => Array.from(run.label.data as BigInt64Array)), Array(6).fill([0n]))
})

t.test('several models side by side; unload releases one', async t => {
  const pool = newPool(t)
  await pool.load('iris/1', irisFile)
  const width = await pool.load('iris-petal-width/1', widthFile)
  t.same(width.inputs.map(input => [input.name, input.type]), [['features', 'float32']])
  t.equal(width.outputs[0].type, 'float32')
  const predicted = await pool.run('iris-petal-width/1', { features: { type: 'float32', dims: [1, 3], data: Float32Array.from([5.1, 3.5, 1.4]) } }, [width.outputs[0].name])
  const value = (predicted[width.outputs[0].name].data as Float32Array)[0]
  t.ok(value > 0 && value < 1, `setosa petal width ${value} cm is small`)

  await pool.unload('iris/1')
  await t.rejects(pool.run('iris/1', features([setosa]), ['label']), { message: 'model iris/1 is not loaded in this worker' })
  t.same(Array.from((await pool.run('iris-petal-width/1', { features: { type: 'float32', dims: [1, 3], data: Float32Array.from([6.7, 3.0, 5.2]) } }, [width.outputs[0].name]))[width.outputs[0].name].dims), [1, 1], 'the other model still runs')
  await t.resolves(pool.unload('never-loaded'), 'unloading an unknown key is a no-op')
})

t.test('clear errors for unknown keys, bad files and bad feeds', async t => {
  const pool = newPool(t)
  await t.rejects(pool.run('nope/1', features([setosa]), ['label']), { message: 'model nope/1 is not loaded in this worker' })
  await t.rejects(pool.load('missing/1', join(models, 'missing', '1', 'model.onnx')), { message: /missing/ })
  await pool.load('iris/1', irisFile)
  await t.rejects(pool.run('iris/1', features([setosa]), ['nope']), Error, 'an unknown output is refused by the runtime')
  await t.rejects(pool.run('iris/1', { features: { type: 'float32', dims: [1, 3], data: Float32Array.from([1, 2, 3]) } }, ['label']), Error)
  t.equal(pool.pending, 0, 'failed runs are not left pending')
  t.same(Array.from((await pool.run('iris/1', features([virginica]), ['label'])).label.data as BigInt64Array), [2n], 'the worker still serves after errors')
})

t.test('maxPending: runs beyond the bound are refused with 503 and Retry-After', async t => {
  const pool = newPool(t, { maxPending: 2 })
  await pool.load('iris/1', irisFile)
  // run() counts a run as pending synchronously, before any answer can come back
  const first = pool.run('iris/1', features([setosa]), ['label'])
  const second = pool.run('iris/1', features([setosa]), ['label'])
  t.equal(pool.pending, 2)
  const third = pool.run('iris/1', features([setosa]), ['label'])
  const error = await third.catch((err: unknown) => err)
  t.type(error, OverloadedError)
  t.match(error, { statusCode: 503, code: 'ONNX_SERVE_OVERLOADED', retryAfter: 1, message: 'inference queue is full (2 runs pending); retry shortly' })
  await Promise.all([first, second])
  t.equal(pool.pending, 0)
  await t.resolves(pool.run('iris/1', features([setosa]), ['label']), 'accepted again once the queue drains')
})

t.test('timeout: a run not answered in time is a 504, and its late answer is dropped', async t => {
  const pool = newPool(t, { timeoutMs: 250 })
  await pool.load('iris/1', irisFile)
  // Fire the pool's timer by hand the moment it is set: no race with the worker
  const realSetTimeout = globalThis.setTimeout
  const timers: Array<{ fire: () => void, ms: number | undefined }> = []
  t.teardown(() => { globalThis.setTimeout = realSetTimeout })
  globalThis.setTimeout = ((fire: () => void, ms?: number) => {
    timers.push({ fire, ms })
    return undefined
  }) as unknown as typeof setTimeout
  const run = pool.run('iris/1', features([setosa]), ['label'])
  globalThis.setTimeout = realSetTimeout
  t.equal(timers.length, 1, 'one timer per run')
  t.equal(timers[0].ms, 250, 'set to timeoutMs')
  t.equal(pool.pending, 1)
  timers[0].fire()
  const error = await run.catch((err: unknown) => err)
  t.type(error, InferenceTimeoutError)
  t.match(error, { statusCode: 504, code: 'ONNX_SERVE_INFERENCE_TIMEOUT', message: 'inference did not finish within 250 ms' })
  // The worker still finishes the run; the pool then counts it done
  await until(() => pool.pending === 0, 'the late answer')
  t.same(Array.from((await pool.run('iris/1', features([virginica]), ['label'])).label.data as BigInt64Array), [2n], 'real timers: answered in time')
})

t.test('a worker that dies is replaced and gets every loaded model again', async t => {
  const pool = newPool(t)
  await pool.load('iris/1', irisFile)
  await pool.load('iris-petal-width/1', widthFile)
  await pool.unload('iris-petal-width/1')
  const [before] = internals(pool).workers
  const beforeId = before.thread.threadId

  // A run in flight when the worker dies is answered with an error, not left hanging
  const inFlight = pool.run('iris/1', features(Array(20000).fill(setosa)), ['label'])
  await before.thread.terminate()
  await t.rejects(inFlight, { message: 'inference worker exited with code 1' })
  t.equal(pool.pending, 0)

  const [after] = internals(pool).workers
  t.not(after, before, 'a new worker took its place')
  t.not(after.thread.threadId, beforeId)
  t.equal(pool.size, 1)
  t.notOk(after.ready, 'not ready until it has reloaded the models')
  const early = await pool.run('iris/1', features([setosa]), ['label']).catch((err: unknown) => err)
  t.match(early, { statusCode: 503, message: 'no inference worker is ready; retry shortly' })
  t.type(early, OverloadedError)

  await until(() => after.ready, 'the replacement to reload')
  t.same(Array.from((await pool.run('iris/1', features([virginica]), ['label'])).label.data as BigInt64Array), [2n], 'the replacement serves')
  await t.rejects(pool.run('iris-petal-width/1', { features: { type: 'float32', dims: [1, 3], data: Float32Array.from([1, 2, 3]) } }, ['variable']),
    { message: 'model iris-petal-width/1 is not loaded in this worker' }, 'an unloaded model is not reloaded')
})

t.test('close stops the workers without replacing them', async t => {
  const pool = new InferencePool({ workers: 2, threadsPerSession: 1, maxPending: 4, timeoutMs: 1000 })
  await pool.load('iris/1', irisFile)
  const threads = internals(pool).workers.map(worker => worker.thread)
  const exits = threads.map(thread => new Promise<number>(resolve => thread.once('exit', resolve)))
  await pool.close()
  t.same(await Promise.all(exits), [1, 1])
  t.same(internals(pool).workers.map(worker => worker.thread), threads, 'no replacement after close')
})
