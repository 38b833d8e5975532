import t from 'tap'
import { createServerMetrics, type GaugeSources } from '../../../lib/metrics/server-metrics'
import { parse, valueOf } from '../../helpers/metrics'

t.test('each app has its own registry, without the Node version', async t => {
  const a = createServerMetrics(() => undefined)
  const b = createServerMetrics(() => undefined)
  t.not(a.registry, b.registry)
  a.workerRestarts.inc()
  t.equal(valueOf(parse(await b.registry.metrics()), 'onnx_serve_inference_worker_restarts_total'), 0, 'counts stay in their own app')
  t.equal(valueOf(parse(await a.registry.metrics()), 'onnx_serve_inference_worker_restarts_total'), 1)
  t.notMatch(await a.registry.metrics(), /nodejs_version_info/)
})

t.test('gauges read their sources at scrape time, and stay empty without them', async t => {
  const given: { sources?: GaugeSources } = {}
  const metrics = createServerMetrics(() => given.sources)
  const before = await metrics.registry.metrics()
  t.notMatch(before, /onnx_serve_inference_queue_depth\{/, 'no sources yet: no samples')
  t.notMatch(before, /onnx_serve_model_state\{/)

  let models: ReturnType<GaugeSources['modelStates']> = [{ name: 'iris', state: 'READY', failed: new Map([[2, 'version 2: not a valid ONNX model']]) }, { name: 'broken', state: 'UNAVAILABLE' }]
  given.sources = {
    queueDepth: () => ({ batcher: 3, workers: 1 }),
    stuckThreads: () => 2,
    modelStates: () => models,
    placements: () => [{ model: 'iris', version: 1, placement: 'inline' }],
    redisUp: () => false
  }
  let samples = parse(await metrics.registry.metrics())
  t.equal(valueOf(samples, 'onnx_serve_inference_queue_depth', { stage: 'batcher' }), 3)
  t.equal(valueOf(samples, 'onnx_serve_inference_queue_depth', { stage: 'workers' }), 1)
  t.equal(valueOf(samples, 'onnx_serve_model_state', { model: 'iris', state: 'READY' }), 1)
  t.equal(valueOf(samples, 'onnx_serve_model_state', { model: 'iris', state: 'LOADING' }), 0)
  t.equal(valueOf(samples, 'onnx_serve_model_state', { model: 'broken', state: 'UNAVAILABLE' }), 1)
  t.equal(valueOf(samples, 'onnx_serve_model_versions_failed', { model: 'iris' }), 1, 'a version that cannot load beside one that serves')
  t.equal(valueOf(samples, 'onnx_serve_model_versions_failed', { model: 'broken' }), 0)
  t.equal(valueOf(samples, 'onnx_serve_redis_up'), 0)
  t.equal(valueOf(samples, 'onnx_serve_inference_threads_stuck'), 2)
  t.equal(valueOf(samples, 'onnx_serve_model_placement', { model: 'iris', version: '1', placement: 'inline' }), 1)
  t.equal(valueOf(samples, 'onnx_serve_model_placement', { model: 'iris', version: '1', placement: 'worker' }), 0)

  models = [{ name: 'iris', state: 'UNLOADING' }]
  samples = parse(await metrics.registry.metrics())
  t.equal(valueOf(samples, 'onnx_serve_model_state', { model: 'iris', state: 'UNLOADING' }), 1)
  t.notOk(samples.some(sample => sample.labels.model === 'broken'), 'a model gone leaves no series behind')
})
