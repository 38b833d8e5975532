import t from 'tap'
import { copyFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Worker } from 'node:worker_threads'
import { InferenceTimeoutError, OverloadedError, UnavailableError } from '../../../lib/errors'
import { InferencePool } from '../../../lib/runtime/inference-pool'
import type { TensorMap } from '../../../lib/tensors/tensor'

// One pool for the whole file, as a worker takes about a second to start
// under the test runner; the subtests run in order and share it.

const models = join(__dirname, '..', '..', '..', 'models')
const irisFile = join(models, 'iris', '1', 'model.onnx')
const widthFile = join(models, 'iris-petal-width', '1', 'model.onnx')

const setosa = [5.1, 3.5, 1.4, 0.2]
const virginica = [6.7, 3.0, 5.2, 2.3]

function features (rows: number[][]): TensorMap {
  return { features: { type: 'float32', dims: [rows.length, 4], data: Float32Array.from(rows.flat()) } }
}

function widthFeatures (row: number[]): TensorMap {
  return { features: { type: 'float32', dims: [1, 3], data: Float32Array.from(row) } }
}

async function labels (pool: InferencePool, rows: number[][]): Promise<bigint[]> {
  const outputs = await pool.run('iris/1', features(rows), ['label'])
  return Array.from(outputs.label.data as BigInt64Array)
}

// The pool keeps its workers private; the tests reach them to kill one, as a crash would.
interface PoolInternals {
  workers: Array<{ thread: Worker, ready: boolean }>
}

function workersOf (pool: InferencePool): PoolInternals['workers'] {
  return (pool as unknown as PoolInternals).workers
}

async function until (condition: () => boolean, what: string, ms = 10000): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

t.test('options are checked: each must be a positive integer', async t => {
  const valid = { workers: 1, threadsPerSession: 1, maxPending: 1, timeoutMs: 1 }
  for (const key of ['workers', 'threadsPerSession', 'maxPending', 'timeoutMs'] as const) {
    for (const value of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      t.throws(() => new InferencePool({ ...valid, [key]: value }),
        new RangeError(`InferencePool: ${key} must be a positive integer, got ${value}`), `${key} ${value}`)
    }
  }
})

const workerExits: number[] = []
const pool = new InferencePool({ workers: 1, threadsPerSession: 1, maxPending: 2, timeoutMs: 10000, onWorkerExit: code => workerExits.push(code) })
t.teardown(() => pool.close())

t.test('loads a model, describes it, and runs it', async t => {
  t.equal(pool.concurrency(), 1)
  t.equal(pool.pending, 0)
  const metadata = await pool.load('iris/1', irisFile)
  t.same(metadata.inputs, [{ name: 'features', type: 'float32', shape: [-1, 4] }], 'a dynamic dimension is -1')
  t.same(metadata.outputs, [
    { name: 'label', type: 'int64', shape: [-1] },
    { name: 'probabilities', type: 'float32', shape: [-1, 3] }
  ])
  t.same(metadata.nonTensorOutputs, [])
  t.same(metadata.dimNames.features, ['batch', null], 'symbolic names kept, fixed dimensions null')

  const feeds = features([setosa, virginica])
  const outputs = await pool.run('iris/1', feeds, ['label', 'probabilities'])
  t.same(Object.keys(outputs).sort(), ['label', 'probabilities'])
  t.equal(outputs.label.type, 'int64')
  t.same(outputs.label.dims, [2])
  t.same(Array.from(outputs.label.data as BigInt64Array), [0n, 2n], 'setosa, virginica')
  t.equal(outputs.probabilities.type, 'float32')
  t.same(outputs.probabilities.dims, [2, 3])
  const probabilities = Array.from(outputs.probabilities.data as Float32Array)
  t.ok(Math.abs(probabilities[0] + probabilities[1] + probabilities[2] - 1) < 1e-5, 'a probability row sums to 1')
  t.ok(probabilities[0] > 0.9, 'setosa is confident')
  t.equal(feeds.features.data.length, 8, 'a small tensor is copied to the worker, cheaper than moving it')
  const large = features(Array.from({ length: 1024 }, () => setosa))
  t.equal((await pool.run('iris/1', large, ['label'])).label.dims[0], 1024)
  t.equal(large.features.data.length, 0, 'a large one (16 KiB) is moved, not copied')
  t.equal(pool.pending, 0, 'nothing pending after the answer')

  const onlyLabel = await pool.run('iris/1', features([virginica]), ['label'])
  t.same(Object.keys(onlyLabel), ['label'], 'only the fetched outputs come back')
})

t.test('several models side by side; unload releases one', async t => {
  const width = await pool.load('iris-petal-width/1', widthFile)
  t.same(width.inputs, [{ name: 'features', type: 'float32', shape: [-1, 3] }])
  const output = width.outputs[0].name
  const predicted = await pool.run('iris-petal-width/1', widthFeatures([5.1, 3.5, 1.4]), [output])
  const value = (predicted[output].data as Float32Array)[0]
  t.ok(value > 0 && value < 1, `setosa petal width ${value} cm is small`)
  t.same(await labels(pool, [virginica]), [2n], 'iris still runs beside it')

  await pool.unload('iris-petal-width/1')
  await t.rejects(pool.run('iris-petal-width/1', widthFeatures([5.1, 3.5, 1.4]), [output]),
    { message: 'model iris-petal-width/1 is not loaded in this worker' })
  t.same(await labels(pool, [setosa]), [0n], 'the other model is untouched')
  await t.resolves(pool.unload('never-loaded'), 'unloading an unknown key is a no-op')
})

t.test('clear errors for unknown keys, bad files and bad feeds', async t => {
  await t.rejects(pool.run('nope/1', features([setosa]), ['label']), { message: 'model nope/1 is not loaded in this worker' })
  await t.rejects(pool.load('missing/1', join(models, 'missing', '1', 'model.onnx')), { message: /missing/ })
  await t.rejects(pool.run('iris/1', features([setosa]), ['nope']), { message: /nope/ }, 'an unknown output is refused by the runtime')
  await t.rejects(pool.run('iris/1', widthFeatures([1, 2, 3]), ['label']), { message: /features/ }, 'a wrong shape is refused by the runtime')
  t.equal(pool.pending, 0, 'failed runs are not left pending')
  t.same(await labels(pool, [virginica]), [2n], 'the worker still serves after errors')
})

t.test('maxPending: runs beyond the bound are refused with 503 and Retry-After', async t => {
  // run() counts a run as pending synchronously, before any answer can come back
  const first = labels(pool, [setosa])
  const second = labels(pool, [virginica])
  t.equal(pool.pending, 2)
  const error = await pool.run('iris/1', features([setosa]), ['label']).catch((err: unknown) => err)
  t.type(error, OverloadedError)
  t.match(error, { statusCode: 503, code: 'ONNX_SERVE_OVERLOADED', retryAfter: 1, message: 'inference queue is full (2 runs pending); retry shortly' })
  t.same(await Promise.all([first, second]), [[0n], [2n]], 'the accepted runs complete')
  t.equal(pool.pending, 0)
  t.same(await labels(pool, [setosa]), [0n], 'accepted again once the queue drains')
})

t.test('timeout: a run not answered in time is a 504, and its late answer is dropped', async t => {
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
  t.equal(timers[0].ms, 10000, 'set to timeoutMs')
  t.equal(pool.pending, 1)
  timers[0].fire()
  const error = await run.catch((err: unknown) => err)
  t.type(error, InferenceTimeoutError)
  t.match(error, { statusCode: 504, code: 'ONNX_SERVE_INFERENCE_TIMEOUT', message: 'inference did not finish within 10000 ms' })
  // The worker still finishes the run; the pool then counts it done, without an unhandled rejection
  await until(() => pool.pending === 0, 'the late answer')
  t.same(await labels(pool, [virginica]), [2n], 'with real timers: answered in time')
})

t.test('a worker that dies is replaced and gets every loaded model again', async t => {
  // A session whose file has gone since it was loaded: the replacement cannot reload it
  const vanishing = join(t.testdir(), 'model.onnx')
  copyFileSync(irisFile, vanishing)
  await pool.load('vanished/1', vanishing)
  rmSync(vanishing)
  const [before] = workersOf(pool)
  const beforeId = before.thread.threadId
  // Killed while idle: terminating a worker in the middle of session.run
  // aborts the whole process (see the report), so no run is executing.
  const dying = before.thread.terminate()
  // Sent to the dying worker, never answered: the pool must reject it on exit
  const lost = pool.run('iris/1', features([setosa]), ['label'])
  t.equal(pool.pending, 1)
  await t.rejects(lost, { message: 'inference worker exited with code 1' })
  t.equal(await dying, 1)
  t.equal(pool.pending, 0)
  t.strictSame(workerExits, [1], 'onWorkerExit was told, with the exit code')

  const [after] = workersOf(pool)
  t.not(after, before, 'a new worker took its place')
  t.not(after.thread.threadId, beforeId)
  t.equal(pool.concurrency(), 1)
  t.notOk(after.ready, 'not ready until it has reloaded the models')
  const early = await pool.run('iris/1', features([setosa]), ['label']).catch((err: unknown) => err)
  t.type(early, OverloadedError)
  t.match(early, { statusCode: 503, retryAfter: 1, message: 'no inference worker is ready; retry shortly' })

  await until(() => after.ready, 'the replacement to reload', 5000)
  t.same(await labels(pool, [virginica, setosa]), [2n, 0n], 'the replacement serves the loaded model')
  await t.rejects(pool.run('iris-petal-width/1', widthFeatures([1, 2, 3]), ['variable']),
    { message: 'model iris-petal-width/1 is not loaded in this worker' }, 'an unloaded model is not reloaded')

  // The session that failed to reload fails only its own runs; the worker is not respawned over it
  await t.rejects(pool.run('vanished/1', features([setosa]), ['label']),
    { message: 'model vanished/1 is not loaded in this worker' }, 'only the session that failed to reload fails')
  const afterId = after.thread.threadId
  await new Promise(resolve => setTimeout(resolve, 300))
  t.equal(workersOf(pool)[0], after, 'no further replacement')
  t.equal(after.thread.threadId, afterId)
  t.ok(after.ready, 'still ready')
  t.same(await labels(pool, [setosa]), [0n], 'and still serving')
  await pool.unload('vanished/1')
})

t.test('close during a large run: the run completes, the worker exits 0, and is not replaced', async t => {
  const [worker] = workersOf(pool)
  const exit = new Promise<number>(resolve => worker.thread.once('exit', resolve))
  // Two million rows: about 150 ms in session.run. Terminating the thread in
  // the middle of it would abort this whole process (onnxruntime throws across
  // the native boundary), and this test file with it.
  const rows = 2_000_000
  let settled = false
  const run = pool.run('iris/1', { features: { type: 'float32', dims: [rows, 4], data: new Float32Array(rows * 4) } }, ['label'])
    .finally(() => { settled = true })
  await new Promise(resolve => setTimeout(resolve, 30))
  t.notOk(settled, 'the run is still in flight when close is called')
  t.equal(pool.pending, 1)
  const closing = pool.close()
  const outputs = await run
  t.same(outputs.label.dims, [rows], 'the run in flight completes')
  t.equal((outputs.label.data as BigInt64Array)[rows - 1], 0n, 'with its answer')
  await t.resolves(closing, 'close resolves')
  t.equal(await exit, 0, 'the worker exits on its own, with code 0')
  t.equal(workersOf(pool)[0], worker, 'no replacement after close')
  t.equal(pool.pending, 0)
  await t.resolves(pool.close(), 'a second close is a no-op')
})

t.test('run after close rejects at once: the server is shutting down', async t => {
  const error = await pool.run('iris/1', features([setosa]), ['label']).catch((err: unknown) => err)
  t.type(error, UnavailableError)
  t.match(error, { statusCode: 503, code: 'ONNX_SERVE_UNAVAILABLE', retryAfter: 5, message: 'the server is shutting down' })
  t.equal(pool.pending, 0, 'nothing was sent to a worker')
})

t.test('close while a replacement reloads: its grace starts after the reloads, so it exits on its own', async t => {
  const pool = new InferencePool({ workers: 1, threadsPerSession: 1, maxPending: 2, timeoutMs: 10000 })
  await pool.load('iris/1', irisFile)
  const [first] = workersOf(pool)
  // Killed while idle (never inside a run), as a crash would: the pool starts a replacement that reloads iris.
  t.equal(await first.thread.terminate(), 1)
  const [replacement] = workersOf(pool)
  t.not(replacement.thread, first.thread, 'a replacement took its place')
  t.notOk(replacement.ready, 'still reloading')
  const exit = new Promise<number>(resolve => replacement.thread.once('exit', resolve))
  // A short grace: a terminate then would land in the replacement's start or
  // its load, inside the runtime, which aborts the process on Node 24 (a thread
  // terminated exits with code 1). Its own exit follows its reloads at once.
  await pool.close(200)
  t.equal(await exit, 0, 'the replacement reloaded, then exited on its own (1: terminated)')
})
