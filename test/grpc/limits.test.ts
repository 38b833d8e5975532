// The gRPC transport's bounds: message size, the client's deadline, and
// what every call leaves in the metrics.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import t from 'tap'
import { status } from '@grpc/grpc-js'
import { buildApp } from '../helpers/build-app'
import { grpcClientOf } from '../helpers/grpc-client'
import { parse as parseMetrics, valueOf } from '../helpers/metrics'
import { SLOW_WIDTH, writeSlowModel } from '../helpers/slow-model'
import { cachedIrisRepository, countRuns, freshRow, predictRow } from '../helpers/cached-repository'

const setosa = [5.1, 3.5, 1.4, 0.2]
const irisRequest = (rows = 1) => ({
  model_name: 'iris',
  inputs: [{ name: 'features', datatype: 'FP32', shape: [String(rows), '4'] }],
  raw_input_contents: [Buffer.from(new Float32Array(Array.from({ length: rows }, () => setosa).flat()).buffer)]
})

t.test('a 50 MB message is refused before it is read whole, and the server goes on', async t => {
  const app = await buildApp(t)
  const grpc = await grpcClientOf(t, app)
  const before = process.memoryUsage().rss
  const huge = { ...irisRequest(), raw_input_contents: [Buffer.alloc(50 * 1024 * 1024)] }
  const { error } = await grpc.call('ModelInfer', huge)
  t.equal(error?.code, status.RESOURCE_EXHAUSTED, 'RESOURCE_EXHAUSTED')
  t.match(error?.details, /larger than max \(\d+ vs\.? 1048576\)/, `BODY_LIMIT is the limit: ${error?.details ?? ''}`)
  const justOver = { ...irisRequest(), raw_input_contents: [Buffer.alloc(1024 * 1024)] }
  t.equal((await grpc.call('ModelInfer', justOver)).error?.code, status.RESOURCE_EXHAUSTED, 'a message a little over BODY_LIMIT too')
  const ok = await grpc.call('ModelInfer', irisRequest())
  t.equal(ok.error, undefined, 'the next call is served')
  // The client held its own copies; the server's share is what stays after.
  t.ok(process.memoryUsage().rss - before < 400 * 1024 * 1024, 'memory stayed bounded')
})

t.test('a deadline that passes in the queue: dropped before it runs', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'onnx-serve-deadline-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeSlowModel(dir)
  const app = await buildApp(t, { MODEL_REPOSITORY: dir, INFERENCE_PLACEMENT: 'worker', BODY_LIMIT: String(16 * 1024 * 1024) })
  const grpc = await grpcClientOf(t, app)
  const slow = (rows: number) => ({
    model_name: 'slow',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [String(rows), String(SLOW_WIDTH)] }],
    raw_input_contents: [Buffer.from(new Float32Array(rows * SLOW_WIDTH).fill(0.1).buffer)]
  })
  // One run of 256 rows through 128 layers keeps the only inference thread busy for a while.
  const started = Date.now()
  const long = grpc.call('ModelInfer', slow(256))
  await new Promise(resolve => setTimeout(resolve, 20))
  const late = await grpc.call('ModelInfer', slow(1), { deadlineMs: 30 })
  t.equal(late.error?.code, status.DEADLINE_EXCEEDED, 'the queued call: DEADLINE_EXCEEDED')
  t.equal((await long).error, undefined, `the long run answered (${Date.now() - started} ms)`)
  // Wait until the queued request's batch would have left.
  await new Promise(resolve => setTimeout(resolve, 100))
  const stats = await grpc.call<{ model_stats: Array<{ inference_count: string, execution_count: string, inference_stats: { fail: { count: string } } }> }>('ModelStatistics', { name: 'slow' })
  const model = stats.response?.model_stats[0]
  t.equal(model?.inference_count, '256', 'only the long run\'s rows were run')
  t.equal(model?.execution_count, '1', 'in one run: the late request never reached the runtime')
  t.equal(model?.inference_stats.fail.count, '1', 'and counts as failed')
  const expired = await grpc.call('ModelInfer', slow(1), { deadlineMs: 0 })
  t.equal(expired.error?.code, status.DEADLINE_EXCEEDED, 'a deadline already past')
})

t.test('metrics and logs of gRPC calls', async t => {
  const app = await buildApp(t)
  const grpc = await grpcClientOf(t, app)
  await grpc.call('ModelInfer', irisRequest(2))
  await grpc.call('ModelInfer', { ...irisRequest(), model_name: 'nope' })
  await grpc.call('ModelInfer', { ...irisRequest(), inputs: [] })
  await grpc.call('ServerLive', {}, { token: null })
  await app.inject({ method: 'POST', url: '/v2/models/iris/infer', payload: { inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 4], data: setosa }] } })
  const samples = parseMetrics((await app.inject({ url: '/metrics' })).body)
  t.equal(valueOf(samples, 'onnx_serve_inference_requests_total', { model: 'iris', version: '1', outcome: 'success', transport: 'grpc' }), 1, 'a gRPC inference, by transport')
  t.equal(valueOf(samples, 'onnx_serve_inference_requests_total', { model: 'iris', version: '1', outcome: 'success', transport: 'http' }), 1, 'beside the HTTP one')
  t.equal(valueOf(samples, 'onnx_serve_inference_requests_total', { model: 'unknown', outcome: 'rejected', transport: 'grpc' }), 1, 'an unknown model is "unknown", never its name')
  t.equal(valueOf(samples, 'onnx_serve_inference_requests_total', { model: 'iris', version: '', outcome: 'rejected', transport: 'grpc' }), 1, 'a bad request for a known model, under its name')
  t.equal(valueOf(samples, 'onnx_serve_grpc_call_duration_seconds_count', { method: 'ModelInfer', code: '0' }), 1, 'calls by method and code')
  t.equal(valueOf(samples, 'onnx_serve_grpc_call_duration_seconds_count', { method: 'ModelInfer', code: String(status.NOT_FOUND) }), 1)
  t.equal(valueOf(samples, 'onnx_serve_grpc_call_duration_seconds_count', { method: 'ServerLive', code: '0' }), 1)
})

t.test('the prediction cache is one across transports: a row answered over HTTP is a hit over gRPC', async t => {
  const app = await buildApp(t, { MODEL_REPOSITORY: cachedIrisRepository(t) })
  const grpc = await grpcClientOf(t, app)
  const runs = countRuns(app)
  const row = freshRow()
  t.equal((await predictRow(app, row)).headers['x-cache'], 'MISS', 'HTTP: a miss, which runs the model')
  const request = { model_name: 'iris', inputs: [{ name: 'features', datatype: 'FP32', shape: ['1', '4'] }], raw_input_contents: [Buffer.from(new Float32Array(row).buffer)] }
  const hit = await grpc.call('ModelInfer', request)
  t.equal(hit.error, undefined)
  t.equal(runs(), 1, 'the gRPC call ran nothing: the same entry answered it')
  const stats = await grpc.call<{ model_stats: Array<{ inference_stats: { cache_hit: { count: string } } }> }>('ModelStatistics', { name: 'iris' })
  t.equal(stats.response?.model_stats[0].inference_stats.cache_hit.count, '1', 'a cache hit, as Triton counts it')
})

t.test('shed while the event loop lags, as HTTP is; health still answers', async t => {
  const app = await buildApp(t, { MAX_EVENT_LOOP_DELAY_MS: '50' })
  const grpc = await grpcClientOf(t, app)
  const stopped = new AbortController()
  const lagging = (async () => {
    while (!stopped.signal.aborted) {
      const end = performance.now() + 100
      while (performance.now() < end) { /* the event loop is blocked */ }
      await new Promise(resolve => setImmediate(resolve))
    }
  })()
  t.teardown(async () => { stopped.abort(); await lagging })
  const until = Date.now() + 10_000
  while (!app.overloaded() && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 25))
  const shed = await grpc.call('ModelInfer', irisRequest())
  t.equal(shed.error?.code, status.UNAVAILABLE, 'UNAVAILABLE')
  t.match(shed.error?.details, /^the server is overloaded \(eventLoopDelay \d+\); retry shortly$/, 'in HTTP\'s words')
  t.strictSame((await grpc.call('ServerLive', {}, { token: null })).response, { live: true }, 'ServerLive still answers')
  stopped.abort()
  await lagging
})
