// Each metric family of plugins/metrics.ts (lib/metrics/server-metrics.ts) moves
// with the traffic that must move it.

import type { Worker } from 'node:worker_threads'
import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { buildApp, devToken } from '../helpers/build-app'
import { scrape, valueOf } from '../helpers/metrics'

const IRIS = { model: 'iris', version: '1' }
const row = [5.1, 3.5, 1.4, 0.2]

t.test('predictions: requests by outcome, duration, queue wait, batch size, queue depth, model state', async t => {
  const app = await buildApp(t, { DEFAULT_MODEL: 'iris' })
  const before = await scrape(app)
  t.equal(valueOf(before, 'onnx_serve_model_state', { model: 'iris', state: 'READY' }), 1, 'iris is READY')
  t.equal(valueOf(before, 'onnx_serve_model_state', { model: 'iris', state: 'LOADING' }), 0)
  t.equal(valueOf(before, 'onnx_serve_inference_queue_depth', { stage: 'batcher' }), 0, 'nothing queued at rest')
  t.equal(valueOf(before, 'onnx_serve_inference_queue_depth', { stage: 'workers' }), 0)

  const answers = await Promise.all([
    ...Array.from({ length: 5 }, () => app.inject({ method: 'POST', url: '/predict', payload: { input_data: row } })),
    app.inject({ method: 'POST', url: '/v1/models/iris:predict', payload: { instances: [row, row] } }),
    app.inject({ method: 'POST', url: '/v2/models/iris/infer', payload: { inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: row }] } })
  ])
  t.strictSame(answers.map(res => res.statusCode), Array(7).fill(200))
  t.equal((await app.inject({ method: 'POST', url: '/predict', payload: { input_data: [1, 2] } })).statusCode, 400)
  t.equal((await app.inject({ method: 'POST', url: '/v1/models/nope-' + Date.now() + ':predict', payload: { instances: [row] } })).statusCode, 404)

  const after = await scrape(app)
  t.equal(valueOf(after, 'onnx_serve_inference_requests_total', { ...IRIS, outcome: 'success' }), 7, 'seven answered, over three APIs')
  t.equal(valueOf(after, 'onnx_serve_inference_requests_total', { model: 'iris', version: '', outcome: 'rejected' }), 1, 'a bad row, rejected')
  t.equal(valueOf(after, 'onnx_serve_inference_requests_total', { model: 'unknown', outcome: 'rejected' }), 1, 'an unknown model is "unknown", never its name')
  t.equal(valueOf(after, 'onnx_serve_inference_duration_seconds_count', IRIS), 7)
  t.ok(valueOf(after, 'onnx_serve_inference_duration_seconds_sum', IRIS) > 0)
  const batches = valueOf(after, 'onnx_serve_inference_batch_size_count', IRIS)
  const batchedRows = valueOf(after, 'onnx_serve_inference_batch_size_sum', IRIS)
  // Warm-up runs go to the pool directly, so every batch here is a request's.
  t.equal(batchedRows, 8, 'eight rows went through the batcher')
  t.ok(batches >= 1 && batches <= 7, `in ${batches} batches (concurrent requests merge)`)
  t.equal(valueOf(after, 'onnx_serve_inference_queue_wait_seconds_count', IRIS), 7, 'one wait per request')
})

t.test('refusals: failed authentications by reason, 429s by limit', async t => {
  const app = await buildApp(t, { RATE_LIMIT_MAX: '2', AUTH_FAILURE_LIMIT: '3' }, { token: false })
  const predictToken = `Bearer ${devToken({ sub: 'families', scope: 'predict' })}`
  const adminOnly = `Bearer ${devToken({ sub: 'families-admin', scope: 'admin' })}`
  const predict = async (authorization?: string, remoteAddress = '192.0.2.1'): Promise<LightMyRequestResponse> =>
    await app.inject({ method: 'POST', url: '/predict', remoteAddress, headers: authorization === undefined ? {} : { authorization }, payload: { input_data: row } })

  t.equal((await predict()).statusCode, 401)
  t.equal((await predict('Basic abc')).statusCode, 401)
  t.equal((await predict('Bearer not.a.token')).statusCode, 401)
  t.equal((await predict('Bearer still.not.valid')).statusCode, 429, 'the fourth failure from one address: blocked')
  t.equal((await predict(adminOnly, '192.0.2.2')).statusCode, 403)
  for (const expected of [200, 200, 429]) t.equal((await predict(predictToken, '192.0.2.3')).statusCode, expected)
  for (let i = 0; i < 121; i++) await app.inject({ method: 'GET', url: '/metrics', remoteAddress: '192.0.2.4' })

  const samples = await scrape(app)
  t.equal(valueOf(samples, 'onnx_serve_auth_failures_total', { reason: 'missing' }), 1)
  t.equal(valueOf(samples, 'onnx_serve_auth_failures_total', { reason: 'malformed' }), 1)
  t.equal(valueOf(samples, 'onnx_serve_auth_failures_total', { reason: 'invalid' }), 2, 'the blocked attempt was counted before the block')
  t.equal(valueOf(samples, 'onnx_serve_auth_failures_total', { reason: 'scope' }), 1)
  t.equal(valueOf(samples, 'onnx_serve_rate_limited_total', { reason: 'auth_failures' }), 1)
  t.equal(valueOf(samples, 'onnx_serve_rate_limited_total', { reason: 'quota' }), 1)
  t.equal(valueOf(samples, 'onnx_serve_rate_limited_total', { reason: 'scrapes' }), 1)
})

// The pool keeps its workers private; the test reaches one to kill it, as a crash would.
interface PoolInternals {
  runtime: { pool: { workers: Array<{ thread: Worker, ready: boolean }> } }
}

t.test('worker restarts: a worker that dies is counted when it is replaced', async t => {
  // The bundled models are tiny and would run on the main thread: placed in the workers here.
  const app = await buildApp(t, { INFERENCE_PLACEMENT: 'worker' })
  t.equal(valueOf(await scrape(app), 'onnx_serve_inference_worker_restarts_total'), 0)
  const { workers } = (app.models as unknown as PoolInternals).runtime.pool
  const [first] = workers
  await first.thread.terminate()
  while (workers[0] === first || !workers[0].ready) await new Promise(resolve => setTimeout(resolve, 10))
  t.equal(valueOf(await scrape(app), 'onnx_serve_inference_worker_restarts_total'), 1)
  t.equal((await app.inject({ method: 'POST', url: '/predict', payload: { input_data: row } })).statusCode, 200, 'and the new worker serves')
})

t.test('METRICS_AUTH=true: /metrics needs a token with the metrics scope', async t => {
  const app = await buildApp(t, { METRICS_AUTH: 'true' }, { token: false })
  t.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401)
  const predictOnly = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${devToken({ sub: 'm', scope: 'predict' })}` } })
  t.equal(predictOnly.statusCode, 403)
  const scraper = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${devToken({ sub: 'prometheus', scope: 'metrics' })}` } })
  t.equal(scraper.statusCode, 200)
  t.match(scraper.body, /^onnx_serve_http_request_duration_seconds_count/m)
})
