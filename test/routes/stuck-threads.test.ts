// A run past INFERENCE_TIMEOUT_MS cannot be stopped (onnxruntime has no
// cancel, and terminating its thread aborts the process): its worker is set
// aside and replaced, serving goes on, and the health probes say when the
// stuck threads call for a restart. (Readiness failing one thread before
// liveness is in test/lib/data-plane/data-plane.test.ts.)

import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { buildLoggedApp } from '../helpers/logged-app'
import { parse, valueOf } from '../helpers/metrics'
import { slowRepository, slowRows } from '../helpers/slow-model'

// Runs of this many rows of the slow model take about a second; the deadline is far shorter.
const STUCK_ROWS = 400
const TIMEOUT_MS = 100

t.test('a stuck run: set aside and replaced, the probes fail at the limit, and recover when the run ends', async t => {
  const { app, raw } = await buildLoggedApp(t, {
    MODEL_REPOSITORY: slowRepository(t),
    INFERENCE_THREADS: '1',
    INFERENCE_PLACEMENT: 'worker',
    INFERENCE_TIMEOUT_MS: String(TIMEOUT_MS),
    INFERENCE_STUCK_LIMIT: '1',
    BODY_LIMIT: String(8 * 1024 * 1024)
  })
  const predict = async (rows: number): Promise<number> => (await app.inject({
    method: 'POST', url: '/v1/models/slow:predict', headers: { 'content-type': 'application/json' }, payload: slowRows(rows)
  })).statusCode
  const probe = async (url: string): Promise<{ status: number, body: string }> => {
    const res = await app.inject({ method: 'GET', url })
    return { status: res.statusCode, body: res.body }
  }
  const metric = async (name: string): Promise<number> => valueOf(parse((await app.inject({ method: 'GET', url: '/metrics' })).body), name)

  t.equal(await predict(1), 200, 'a one-row run is well within the deadline')
  const started = performance.now()
  t.equal(await predict(STUCK_ROWS), 504, 'the long run is answered 504')
  t.ok(performance.now() - started < TIMEOUT_MS + 500, `at the deadline (${Math.round(performance.now() - started)} ms), not when the run ends`)
  t.equal(await metric('onnx_serve_inference_threads_stuck'), 1, 'the stuck thread is counted')
  t.equal(await metric('onnx_serve_inference_threads_set_aside_total'), 1)
  t.match(await probe('/health/live'), { status: 503, body: /1 inference thread is stuck in runs past INFERENCE_TIMEOUT_MS/ }, 'liveness fails at the limit')
  t.match(await probe('/v2/health/live'), { status: 503, body: /"error":"1 inference thread is stuck/ }, 'the protocol\'s liveness too')
  t.equal((await probe('/health/ready')).status, 503, 'and readiness')

  // A one-row run goes to the replacement worker (503 while it loads the
  // model: seconds on a busy machine).
  let status = 503
  for (const until = performance.now() + 15_000; performance.now() < until && status === 503;) {
    status = await predict(1)
    if (status === 503) await sleep(20)
  }
  t.equal(status, 200, 'the replacement worker serves while the stuck one runs')

  // The stuck run ends at last: its thread exits and the probes recover.
  for (let i = 0; i < 300 && (await probe('/health/live')).status !== 200; i++) await sleep(50)
  t.equal((await probe('/health/live')).status, 200, 'live again once the stuck run ended')
  t.equal((await probe('/health/ready')).status, 200, 'ready again')
  t.equal(await metric('onnx_serve_inference_threads_stuck'), 0)
  t.match(raw.join(''), /"level":50,.*an inference thread is stuck in a run past INFERENCE_TIMEOUT_MS \(100 ms\); it was set aside and replaced/, 'the log says so')
})
