import fp from 'fastify-plugin'
import { LRUCache } from 'lru-cache'
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { countingKey } from '../lib/client-address'

/** Scrapes one address may make per minute: Prometheus scrapes a target every 15 to 60 s. */
export const SCRAPES_PER_MINUTE = 120

export interface Metrics {
  registry: Registry
  /** Whether one more scrape from this address fits its quota (SCRAPES_PER_MINUTE). */
  scrapeAllowed: (address: string) => boolean
  httpRequestDuration: Histogram<'method' | 'route' | 'status_code'>
  /** Requests let through without the shared rate-limit store (fail open). */
  rateLimitStoreUnavailable: Counter
  /** Predictions of cache-enabled models, by model and hit or miss. */
  cacheLookups: Counter<'model' | 'result'>
  /** Cache store calls that failed (served as a miss, or without an ETag). */
  cacheStoreUnavailable: Counter
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

/** Prometheus metrics in a registry of this app's own (tests build many apps). */
export default fp(async (fastify) => {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'onnx_serve_' })
  // The exact Node version tells a scraper (public by default) which CVEs apply.
  registry.removeSingleMetric('onnx_serve_nodejs_version_info')
  // /metrics is public and a rendering costs milliseconds: scrapes are counted
  // per address, in this process's memory (each pod is scraped on its own,
  // and the numbers matter most when a shared store is down).
  const scrapes = new LRUCache<string, number>({ max: 10_000, ttl: 60_000 })
  const metrics: Metrics = {
    registry,
    scrapeAllowed: (address) => {
      const key = countingKey(address)
      const count = (scrapes.get(key) ?? 0) + 1
      scrapes.set(key, count, { noUpdateTTL: true })
      return count <= SCRAPES_PER_MINUTE
    },
    httpRequestDuration: new Histogram({
      name: 'onnx_serve_http_request_duration_seconds',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry]
    }),
    rateLimitStoreUnavailable: new Counter({
      name: 'onnx_serve_rate_limit_store_unavailable_total',
      help: 'Requests served without checking the shared rate-limit store because Redis was unreachable',
      registers: [registry]
    }),
    cacheLookups: new Counter({
      name: 'onnx_serve_cache_lookups_total',
      help: 'Predictions of models with the prediction cache on, by model and result (hit or miss)',
      labelNames: ['model', 'result'],
      registers: [registry]
    }),
    cacheStoreUnavailable: new Counter({
      name: 'onnx_serve_cache_store_unavailable_total',
      help: 'Cache store calls that failed (the prediction was computed, the ETag not checked)',
      registers: [registry]
    })
  }
  fastify.decorate('metrics', metrics)
  fastify.addHook('onResponse', async (request, reply) => {
    // The route pattern, never the raw URL: unknown paths must not create series.
    const route = request.routeOptions.url ?? 'unmatched'
    metrics.httpRequestDuration.observe({ method: request.method, route, status_code: reply.statusCode }, reply.elapsedTime / 1000)
  })
}, { name: 'metrics' })
