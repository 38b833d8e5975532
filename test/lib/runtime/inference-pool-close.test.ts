import t from 'tap'
import { join } from 'node:path'
import type { Worker } from 'node:worker_threads'
import { InferencePool } from '../../../lib/runtime/inference-pool'

const irisFile = join(__dirname, '..', '..', '..', 'models', 'iris', '1', 'model.onnx')

// The pool keeps its workers private; the test reaches them to kill one, as a crash would.
function workersOf (pool: InferencePool): Array<{ thread: Worker, ready: boolean }> {
  return (pool as unknown as { workers: Array<{ thread: Worker, ready: boolean }> }).workers
}

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
