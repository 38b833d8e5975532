import { createHash, randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import caching from '@fastify/caching'
import abstractCache from 'abstract-cache'
import type { FastifyRequest } from 'fastify'
import { ForgivingCacheClient, MemoryCacheClient, RedisCacheClient, type CacheClient } from '../lib/cache/cache-store'
import { PREDICTION_SEGMENT, PredictionCache, versionPrefix } from '../lib/cache/prediction-cache'
import { routeOf } from '../http/route-of'

declare module 'fastify' {
  interface FastifyInstance {
    /** Predictions of models whose config.json says "cache": true (lib/cache/prediction-cache). */
    predictionCache: PredictionCache
  }
  interface FastifyContextConfig {
    /** true: a GET about the model in `:name`, answered with an ETag and 304 to a matching If-None-Match. */
    etag?: boolean
  }
}

/** A cached prediction larger than this (outputs, encoded) is not stored. */
export const MAX_ENTRY_BYTES = 1024 * 1024
const REDIS_NAMESPACE = 'onnx-serve-cache:'
const ETAG_SEGMENT = 'etags'
/**
 * Metadata ETags kept: one per model and metadata URL is what a repository
 * needs; they live in a store of their own, so no flood of them evicts a
 * prediction.
 */
const ETAG_ENTRIES = 4096
const ETAG_BYTES = 4 * 1024 * 1024
/** After a store call fails, the store is left alone this long. */
const STORE_RETRY_MS = 1000

/**
 * Two caches. Predictions of the models that enable the cache (x-cache: HIT
 * or MISS) are kept in this process's memory (bounded in entries and bytes)
 * or, with REDIS_URL, in Redis shared by every pod. The ETags of model
 * metadata, which @fastify/caching answers with 304, name this process: they
 * stay in its memory, in a small store of their own.
 */
export default fp(async (fastify) => {
  const { config, redis, metrics, models } = fastify
  const store: CacheClient = redis === null
    ? new MemoryCacheClient({ maxEntries: config.cache.maxEntries, maxBytes: config.cache.maxBytes })
    : new RedisCacheClient(redis, REDIS_NAMESPACE)
  // @fastify/caching turns a store error into a 500 (in its onRequest and
  // onSend hooks), and a hung Redis would cost each call a command timeout:
  // failures are counted, answered as misses, and for a second the store is
  // not asked (the redis plugin logs the outage).
  const client = new ForgivingCacheClient(store, STORE_RETRY_MS, () => metrics.cacheStoreUnavailable.inc())
  const predictionCache = new PredictionCache(client, { ttlMs: config.cache.ttlMs, maxEntryBytes: MAX_ENTRY_BYTES })
  fastify.decorate('predictionCache', predictionCache)
  // An unloaded or reloaded version's entries are dropped (a reload's new
  // sessions could differ even from the same file's bytes: another runtime).
  models.onRelease(versions => {
    // Never rejects: failures are counted by the client.
    for (const version of versions) client.deletePrefix(PREDICTION_SEGMENT, versionPrefix(version)).catch(() => {})
  })

  // A metadata ETag names this process, the model's revision here and the
  // URL: it is valid exactly while nothing about the model has changed, and
  // a 304 never answers for another URL, another pod or another revision.
  const instance = randomUUID().slice(0, 8)
  const currentEtag = (request: FastifyRequest): string | undefined => {
    const { name } = request.params as { name?: string }
    const revision = name === undefined ? 0 : models.registry.revision(name)
    if (revision === 0) return undefined
    // The path, not the query string: the metadata routes take none, and a
    // client varying it must not make new entries.
    const path = request.url.split('?', 1)[0]
    const url = createHash('sha256').update(path).digest('base64url').slice(0, 16)
    return `"${instance}.${revision}.${url}"`
  }

  // Runs before @fastify/caching's own onRequest hook (registered below),
  // and after auth's and the quota's (app.ts): an anonymous request never
  // gets a 304. Only the current ETag of an ETag route may reach the store lookup.
  fastify.addHook('onRequest', (request, _reply, done) => {
    const sent = request.headers['if-none-match']
    if (sent !== undefined && (routeOf(request).config.etag !== true || request.method !== 'GET' || sent !== currentEtag(request))) {
      delete request.headers['if-none-match']
    }
    done()
  })
  // Synchronous: it runs on every response, and a promise per response costs.
  fastify.addHook('onSend', (request, reply, payload, done) => {
    const inference = request.facts?.inference
    const outcome = inference?.cache
    if (outcome !== undefined) {
      reply.header('x-cache', outcome)
      metrics.cacheLookups.inc({ model: inference?.model, result: outcome === 'HIT' ? 'hit' : 'miss' })
    } else if (routeOf(request).config.etag === true && reply.statusCode === 200) {
      const etag = currentEtag(request)
      if (etag !== undefined) reply.etag(etag, config.cache.ttlMs)
    }
    done(null, payload)
  })

  await fastify.register(caching, {
    cache: abstractCache({ useAwait: false, client: new MemoryCacheClient({ maxEntries: ETAG_ENTRIES, maxBytes: ETAG_BYTES }) }),
    cacheSegment: ETAG_SEGMENT,
    // Metadata may change with any reload: a client keeps it but asks again
    // (If-None-Match) each time, which the ETag makes cheap.
    privacy: caching.privacy.NOCACHE
  })
}, { name: 'caching', dependencies: ['config', 'redis', 'metrics', 'models', 'auth', 'quota'] })
