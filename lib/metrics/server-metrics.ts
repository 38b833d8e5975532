// The server's Prometheus metric families, in one registry per app (tests
// build many apps). Names follow Prometheus conventions: base units
// (seconds), _total for counters, labels of bounded cardinality only (model
// names the server knows, never raw URLs or client-chosen values).

import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import type { InferenceRecord } from '../data-plane/infer-codec'
import { MODEL_STATES } from '../models/model-state'
import { KeyedCounter, KeyedHistogram } from './keyed-metrics'

/** How a failed authentication failed: no token, not a bearer token, a token that did not verify, a missing scope. */
export type AuthFailureReason = 'missing' | 'malformed' | 'invalid' | 'scope'
/** A prediction request's end: answered, refused as the client's fault (4xx), or failed (5xx). */
export type InferenceOutcome = 'success' | 'rejected' | 'failed'

type ModelLabels = 'model' | 'version'

export interface ServerMetrics {
  registry: Registry
  // The per-request ones are keyed (lib/metrics/keyed-metrics): no label hashing per observation.
  httpRequestDuration: KeyedHistogram<'method' | 'route' | 'status_code'>
  /** gRPC calls by method and status code, as HTTP requests by route and status. */
  grpcCallDuration: KeyedHistogram<'method' | 'code'>
  inferenceRequests: KeyedCounter<ModelLabels | 'outcome' | 'transport'>
  /** From the batcher's queue to the outputs, for answers that ran the model (not cache hits). */
  inferenceDuration: KeyedHistogram<ModelLabels>
  /** How long each request waited in the batcher before its batch left. */
  queueWait: KeyedHistogram<ModelLabels>
  /** Rows of each merged run. */
  batchSize: KeyedHistogram<ModelLabels>
  queueDepth: Gauge<'stage'>
  modelState: Gauge<'model' | 'state'>
  /** Versions of each model that its last load could not load. */
  modelVersionsFailed: Gauge<'model'>
  modelVersionsServed: Gauge<'model'>
  /** Loads of a model, by outcome: ready (everything asked for serves) or failed. */
  modelLoads: Counter<'model' | 'outcome'>
  modelUnloads: Counter<'model'>
  /** MODEL_CONTROL_MODE=poll: how long the last scan of the repository took. */
  repositoryScanSeconds: Gauge
  /** Where each served version runs: inline on the main thread, or in the worker threads. */
  modelPlacement: Gauge<'model' | 'version' | 'placement'>
  workerRestarts: Counter
  /** Inference threads set aside in a run past INFERENCE_TIMEOUT_MS. */
  stuckThreadsSetAside: Counter
  stuckThreads: Gauge
  redisUp: Gauge
  rateLimited: Counter<'reason'>
  authFailures: Counter<'reason'>
  /** Requests let through without the shared rate-limit store (fail open). */
  rateLimitStoreUnavailable: Counter
  /** Predictions of cache-enabled models, by model and hit or miss. */
  cacheLookups: Counter<'model' | 'result'>
  /** Cache store calls that failed (served as a miss, or without an ETag). */
  cacheStoreUnavailable: Counter
}

/**
 * Counts a prediction request's end, by transport, and its inference time
 * when it ran the model (a cache hit did not). `model`: the label of its
 * model, which a request that reached no version (`inference` undefined)
 * names without one.
 */
export function observeInference (metrics: ServerMetrics, model: string, inference: InferenceRecord | undefined, outcome: InferenceOutcome, transport: 'http' | 'grpc'): void {
  const version = inference === undefined ? '' : String(inference.version)
  // Labels spelled out: `{ ...labels, outcome, transport }` cost 0.85 µs a
  // request (measured alone), eight times the metrics' own work.
  metrics.inferenceRequests.inc({ model, version, outcome, transport })
  if (inference !== undefined && inference.cache !== 'HIT') metrics.inferenceDuration.observe({ model, version }, inference.inferenceMs / 1000)
}

/** Read at scrape time for the gauges. */
export interface GaugeSources {
  queueDepth: () => { batcher: number, workers: number }
  stuckThreads: () => number
  modelStates: () => Array<{ name: string, state: string, loaded?: ReadonlyMap<number, unknown>, failed?: ReadonlyMap<number, string> }>
  placements: () => Array<{ model: string, version: number, placement: 'inline' | 'worker' }>
  /** undefined without REDIS_URL. */
  redisUp: () => boolean | undefined
}

const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

const PLACEMENTS = ['inline', 'worker'] as const

/**
 * A one-hot gauge: for each row, 1 for the value it has of `label` and 0 for
 * the other `choices`; rows gone since the last scrape leave no series.
 */
function setOneHot (gauge: Gauge<string>, label: string, choices: readonly string[], rows: Array<{ labels: Record<string, string>, chosen: string }> | undefined): void {
  if (rows === undefined) return
  gauge.reset()
  for (const row of rows) {
    for (const choice of choices) gauge.set({ ...row.labels, [label]: choice }, row.chosen === choice ? 1 : 0)
  }
}

export function createServerMetrics (sources: () => GaugeSources | undefined): ServerMetrics {
  const registry = new Registry()
  const registers = [registry]
  collectDefaultMetrics({ register: registry, prefix: 'onnx_serve_' })
  // The exact Node version tells a scraper which CVEs apply.
  registry.removeSingleMetric('onnx_serve_nodejs_version_info')
  const modelLabels: ModelLabels[] = ['model', 'version']
  return {
    registry,
    httpRequestDuration: new KeyedHistogram({
      name: 'onnx_serve_http_request_duration_seconds',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers
    }),
    grpcCallDuration: new KeyedHistogram({
      name: 'onnx_serve_grpc_call_duration_seconds',
      help: 'gRPC calls by method and status code (0 OK, 3 INVALID_ARGUMENT, 16 UNAUTHENTICATED, …); each message of a stream counts as a call',
      labelNames: ['method', 'code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers
    }),
    inferenceRequests: new KeyedCounter({
      name: 'onnx_serve_inference_requests_total',
      help: 'Prediction requests (/predict, /v1, /v2 infer over HTTP; ModelInfer and each ModelStreamInfer message over gRPC) by model, version, outcome (success, rejected: 4xx or its gRPC code, failed: 5xx) and transport (http, grpc)',
      labelNames: [...modelLabels, 'outcome', 'transport'],
      registers
    }),
    inferenceDuration: new KeyedHistogram({
      name: 'onnx_serve_inference_duration_seconds',
      help: 'Time from the batcher to the outputs (queueing and the run), per model and version; cache hits excluded',
      labelNames: modelLabels,
      buckets: SECONDS,
      registers
    }),
    queueWait: new KeyedHistogram({
      name: 'onnx_serve_inference_queue_wait_seconds',
      help: 'Time a request waited in the dynamic batcher before its batch left for a run',
      labelNames: modelLabels,
      buckets: SECONDS,
      registers
    }),
    batchSize: new KeyedHistogram({
      name: 'onnx_serve_inference_batch_size',
      help: 'Rows of each merged run of the dynamic batcher',
      labelNames: modelLabels,
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers
    }),
    queueDepth: new Gauge({
      name: 'onnx_serve_inference_queue_depth',
      help: 'Work waiting: rows in the batchers (stage="batcher"), runs accepted by the runtime, on the main thread or in the worker threads, and not answered (stage="workers")',
      labelNames: ['stage'],
      registers,
      collect () {
        const depth = sources()?.queueDepth()
        if (depth === undefined) return
        this.set({ stage: 'batcher' }, depth.batcher)
        this.set({ stage: 'workers' }, depth.workers)
      }
    }),
    modelState: new Gauge({
      name: 'onnx_serve_model_state',
      help: 'Each known model\'s state: 1 for the state it is in, 0 for the others',
      labelNames: ['model', 'state'],
      // Across the processes of a cluster: 1 when any of them is in that state.
      aggregator: 'max',
      registers,
      collect () {
        setOneHot(this, 'state', MODEL_STATES, sources()?.modelStates().map(model => ({ labels: { model: model.name }, chosen: model.state })))
      }
    }),
    modelVersionsFailed: new Gauge({
      name: 'onnx_serve_model_versions_failed',
      help: 'Versions of each model that its last load tried and could not load (the others serve on; the repository index says why)',
      labelNames: ['model'],
      aggregator: 'max',
      registers,
      collect () {
        this.reset()
        for (const model of sources()?.modelStates() ?? []) this.set({ model: model.name }, model.failed?.size ?? 0)
      }
    }),
    modelVersionsServed: new Gauge({
      name: 'onnx_serve_model_versions_served',
      help: 'Versions of each model that serve now',
      labelNames: ['model'],
      aggregator: 'max',
      registers,
      collect () {
        this.reset()
        for (const model of sources()?.modelStates() ?? []) this.set({ model: model.name }, model.loaded?.size ?? 0)
      }
    }),
    modelLoads: new Counter({
      name: 'onnx_serve_model_loads_total',
      help: 'Loads of each model (at start, through the admin API or the repository poll), by outcome: ready (everything asked for serves) or failed',
      labelNames: ['model', 'outcome'],
      registers
    }),
    modelUnloads: new Counter({
      name: 'onnx_serve_model_unloads_total',
      help: 'Unloads of each model (through the admin API, or its folder gone from a polled repository)',
      labelNames: ['model'],
      registers
    }),
    repositoryScanSeconds: new Gauge({
      name: 'onnx_serve_repository_scan_seconds',
      help: 'With MODEL_CONTROL_MODE=poll: how long the last scan of the model repository took',
      aggregator: 'max',
      registers
    }),
    modelPlacement: new Gauge({
      name: 'onnx_serve_model_placement',
      help: 'Where each served model version runs: 1 for its placement (inline on the main thread, or worker threads), 0 for the other',
      labelNames: ['model', 'version', 'placement'],
      aggregator: 'max',
      registers,
      collect () {
        setOneHot(this, 'placement', PLACEMENTS, sources()?.placements().map(({ model, version, placement }) => ({ labels: { model, version: String(version) }, chosen: placement })))
      }
    }),
    redisUp: new Gauge({
      name: 'onnx_serve_redis_up',
      help: 'With REDIS_URL: 1 while the shared store is connected, 0 while not (requests are served either way)',
      registers,
      collect () {
        const up = sources()?.redisUp()
        if (up !== undefined) this.set(up ? 1 : 0)
      }
    }),
    stuckThreadsSetAside: new Counter({
      name: 'onnx_serve_inference_threads_set_aside_total',
      help: 'Inference worker threads set aside (and replaced) while stuck in a run past INFERENCE_TIMEOUT_MS',
      registers
    }),
    stuckThreads: new Gauge({
      name: 'onnx_serve_inference_threads_stuck',
      help: 'Inference worker threads set aside in runs past INFERENCE_TIMEOUT_MS that have not ended; at INFERENCE_STUCK_LIMIT liveness fails',
      registers,
      collect () {
        const stuck = sources()?.stuckThreads()
        if (stuck !== undefined) this.set(stuck)
      }
    }),
    workerRestarts: new Counter({
      name: 'onnx_serve_inference_worker_restarts_total',
      help: 'Inference worker threads that exited unasked and were replaced',
      registers
    }),
    rateLimited: new Counter({
      name: 'onnx_serve_rate_limited_total',
      help: 'Requests answered 429, by limit: quota (RATE_LIMIT_MAX), auth_failures (AUTH_FAILURE_LIMIT), scrapes (of /metrics)',
      labelNames: ['reason'],
      registers
    }),
    authFailures: new Counter({
      name: 'onnx_serve_auth_failures_total',
      help: 'Refused authentications: missing, malformed or invalid tokens (401) and missing scopes (403)',
      labelNames: ['reason'],
      registers
    }),
    rateLimitStoreUnavailable: new Counter({
      name: 'onnx_serve_rate_limit_store_unavailable_total',
      help: 'Requests served without checking the shared rate-limit store because Redis was unreachable',
      registers
    }),
    cacheLookups: new Counter({
      name: 'onnx_serve_cache_lookups_total',
      help: 'Predictions of models with the prediction cache on, by model and result (hit or miss)',
      labelNames: ['model', 'result'],
      registers
    }),
    cacheStoreUnavailable: new Counter({
      name: 'onnx_serve_cache_store_unavailable_total',
      help: 'Cache store calls that failed (the prediction was computed, the ETag not checked)',
      registers
    })
  }
}
