import cluster from 'node:cluster'
import fp from 'fastify-plugin'
import { LRUCache } from 'lru-cache'
import type { FastifyRequest } from 'fastify'
import { countingKey } from '../lib/auth/client-address'
import { TooManyRequestsError } from '../lib/errors'
import { clusterRenderer } from '../lib/metrics/cluster-metrics'
import { createServerMetrics, observeInference, type InferenceOutcome, type ServerMetrics } from '../lib/metrics/server-metrics'
import { routeOf } from '../http/route-of'

/** Scrapes one address may make per minute: Prometheus scrapes a target every 15 to 60 s. */
export const SCRAPES_PER_MINUTE = 120

export interface Metrics extends ServerMetrics {
  /** Counts a scrape from this address; 429 past its quota (SCRAPES_PER_MINUTE). */
  chargeScrape: (address: string) => void
  /** The text of a scrape: in a process of a cluster (WORKERS > 1), every process's. */
  render: () => Promise<string>
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
  interface FastifyContextConfig {
    /** true: a route that runs inference, counted in onnx_serve_inference_requests_total. */
    inferenceRoute?: boolean
  }
}

/** An inference's outcome by the HTTP status it was (or, over gRPC, stands for). */
export function outcomeOf (statusCode: number): InferenceOutcome {
  return statusCode < 400 ? 'success' : statusCode < 500 ? 'rejected' : 'failed'
}

/**
 * Prometheus metrics (lib/metrics/server-metrics): HTTP durations by route, every
 * prediction by model, version and outcome, 429s by the limit that refused
 * them. The model manager feeds batch sizes and queue waits (plugins/models).
 */
export default fp(async (fastify) => {
  const metrics: ServerMetrics = createServerMetrics(() => fastify.hasDecorator('models')
    ? {
        queueDepth: () => fastify.models.queueDepth(),
        stuckThreads: () => fastify.models.stuckThreads(),
        modelStates: () => fastify.models.registry.list(),
        placements: () => fastify.models.placements(),
        redisUp: () => fastify.redis === null ? undefined : fastify.redis.status === 'ready'
      }
    : undefined)
  // /metrics is public by default and a rendering costs milliseconds: scrapes
  // are counted per address, in this process's memory (each pod is scraped
  // on its own, and the numbers matter most when a shared store is down).
  const scrapes = new LRUCache<string, number>({ max: 10_000, ttl: 60_000 })
  const metricsText = cluster.isWorker ? clusterRenderer(metrics.registry) : async () => await metrics.registry.metrics()
  // Scrapes that arrive while one is rendering share its text.
  let rendering: Promise<string> | undefined
  fastify.decorate('metrics', {
    ...metrics,
    render: () => {
      rendering ??= metricsText().finally(() => { rendering = undefined })
      return rendering
    },
    chargeScrape: (address: string) => {
      const key = countingKey(address)
      const count = (scrapes.get(key) ?? 0) + 1
      scrapes.set(key, count, { noUpdateTTL: true })
      if (count > SCRAPES_PER_MINUTE) throw new TooManyRequestsError(`more than ${SCRAPES_PER_MINUTE} scrapes a minute from this address`, 60, 'scrapes')
    }
  })

  // A model label is a model this server knows: a client naming others must not create series.
  const modelOf = (request: FastifyRequest): string => fastify.dataPlane.modelLabel((request.params as { name?: string }).name)

  fastify.addHook('onResponse', (request, reply, done) => {
    // The route pattern, never the raw URL: unknown paths must not create series.
    const route = routeOf(request).url ?? 'unmatched'
    metrics.httpRequestDuration.observe({ method: request.method, route, status_code: reply.statusCode }, reply.elapsedTime / 1000)
    if (routeOf(request).config.inferenceRoute === true) {
      const inference = request.facts?.inference
      observeInference(metrics, inference === undefined ? modelOf(request) : inference.model, inference, outcomeOf(reply.statusCode), 'http')
    }
    done()
  })
  fastify.addHook('onError', (_request, _reply, error, done) => {
    if (error instanceof TooManyRequestsError) metrics.rateLimited.inc({ reason: error.reason })
    done()
  })
}, { name: 'metrics' })
