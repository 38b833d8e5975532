import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { buildApp } from '../helpers/build-app'
import { assertError } from '../helpers/responses'
import { SLOW_WIDTH, writeSlowModel } from '../helpers/slow-model'

t.test('an inference slower than INFERENCE_TIMEOUT_MS is a JSON 504, and the server goes on', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'onnx-serve-timeout-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeSlowModel(dir)
  const app = await buildApp(t, { MODEL_REPOSITORY: dir, INFERENCE_TIMEOUT_MS: '30', BODY_LIMIT: String(16 * 1024 * 1024) })
  // 256 rows of 1024 layers of width 512 take hundreds of ms on one thread.
  const slow = await app.inject({
    method: 'POST',
    url: '/v1/models/slow/predict',
    payload: { instances: Array.from({ length: 256 }, () => new Array(SLOW_WIDTH).fill(0.1)) }
  })
  assertError(t, slow, { statusCode: 504, code: 'ONNX_SERVE_INFERENCE_TIMEOUT', message: 'inference did not finish within 30 ms' })
  const live = await app.inject({ url: '/health/live' })
  t.equal(live.statusCode, 200, 'still live')
  // The thread set aside still runs: a process that exits meanwhile ends it
  // mid-run, which Node 24 turns into an abort (onnxruntime's binding throws
  // across the native boundary). Let the run end before the test's process does.
  const until = Date.now() + 20_000
  while (app.models.stuckThreads() > 0 && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 20))
  t.equal(app.models.stuckThreads(), 0, 'the slow run ended, and its thread with it')
})
