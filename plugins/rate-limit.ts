import fp from 'fastify-plugin'
import rateLimit, { type FastifyRateLimitStore, type FastifyRateLimitStoreCtor, type RateLimitOptions } from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { format } from '@lukeed/ms'
import type { Redis } from 'ioredis'
import { addressKey, countingKey } from '../lib/auth/client-address'
import { InputError, TooManyRequestsError } from '../lib/errors'
import { evictionWarning } from '../lib/quota/eviction-warning'
import { PrimaryCounts } from '../lib/quota/primary-counts'
import { QuotaTables, type QuotaTable, type WindowCount } from '../lib/quota/window-counters'
import { DOCS_DOCUMENT_ROUTES } from '../http/docs-ui'
import { routeOf } from '../http/route-of'

/** What a keyed limiter answers for one charge. */
export interface LimitOutcome {
  /** Over the limit: refuse, and say when to retry. */
  exceeded: boolean
  max: number
  /** Seconds until the window ends. */
  ttlSeconds: number
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * A limiter on the rate-limit plugin's store, charged by a key rather than
     * by an HTTP request, so every transport counts in the same counters
     * (the gRPC service charges `sub:<subject>` in the same quota as HTTP).
     * Without options: the quota's own limit (RATE_LIMIT_MAX per RATE_LIMIT_WINDOW).
     */
    keyedLimiter: (options?: Pick<RateLimitOptions, 'max' | 'timeWindow'>) => (key: string) => Promise<LimitOutcome>
    /** Charges the quota of `key` (quotaKey's): 429 past it, as HTTP's quota answers. */
    chargeQuota: (key: string) => Promise<void>
  }
}

/** The key a quota counts a caller under, whatever the transport: its verified subject, else its address. */
export function quotaKey (subject: unknown, address: string): string {
  return typeof subject === 'string' && subject !== '' ? `sub:${subject}` : `ip:${countingKey(address)}`
}

/**
 * Quotas are per token subject; a request without a verified token is
 * counted by its address (IPv6 by /64, see lib/auth/client-address).
 */
export function rateLimitKey (request: FastifyRequest): string {
  return quotaKey(request.user?.sub, request.ip)
}

type RedisStoreCtor = new (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, nameSpace: string) => FastifyRateLimitStore
// The library's own Redis store (one Lua INCR + PEXPIRE per request); its typings do not export it.
const RedisStore = require('@fastify/rate-limit/store/RedisStore') as RedisStoreCtor

const isDocsAsset = (route: string | undefined): boolean => route !== undefined && route.startsWith('/docs') && !DOCS_DOCUMENT_ROUTES.has(route)

/** What a keyed charge hands the library in place of a request. */
interface KeyedCharge {
  key: string
  routeOptions: { config: Record<string, never> }
}

type Count = (table: QuotaTable, key: string, windowMs: number) => WindowCount | Promise<WindowCount>

/**
 * The store over our own counters (in this process, or the primary's with
 * WORKERS > 1): verified subjects count in a table of their own, which
 * anonymous requests and failed authentications (keyed by address) cannot
 * flush. Every limiter (the quota, the failed-authentication limit) shares it.
 */
function countersStore (count: Count): FastifyRateLimitStore {
  return {
    incr (key, callback, timeWindow) {
      const counted = count(key.startsWith('sub:') ? 'subjects' : 'addresses', key, timeWindow)
      if (counted instanceof Promise) counted.then(result => callback(null, result), (error: Error) => callback(error))
      else callback(null, counted)
    },
    child () { return this }
  }
}

/**
 * A store whose every failure calls `onFailure`: with skipOnError the
 * request then goes through unchecked. Counting failures rather than the
 * client's status also catches a Redis that hangs (the client stays
 * 'ready' while each command times out), and does not count requests that
 * never consult the store (health probes, /metrics).
 */
function countingFailures (inner: FastifyRateLimitStore, onFailure: () => void): FastifyRateLimitStoreCtor {
  return class CountingStore implements FastifyRateLimitStore {
    incr (...[key, callback, timeWindow, max]: Parameters<FastifyRateLimitStore['incr']>): void {
      inner.incr(key, (error, result) => {
        if (error !== null) onFailure()
        callback(error, result)
      }, timeWindow, max)
    }

    child (routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): FastifyRateLimitStore {
      // A limiter of createRateLimit() has no route; the library would name its
      // keys after one anyway ("undefinedundefined-"). Its key generator names them.
      const routeInfo = (routeOptions as { routeInfo?: { url?: string } }).routeInfo
      const store = routeInfo?.url === undefined ? inner : inner.child(routeOptions)
      return new (countingFailures(store, onFailure))({})
    }
  }
}

/**
 * Where the counters live: in Redis when REDIS_URL is set (one quota across
 * pods); else with WORKERS > 1 in the primary process (one quota across the
 * pod's processes); else in this process, RATE_LIMIT_KEYS per table.
 */
function storeFor (fastify: FastifyInstance): FastifyRateLimitStore {
  const { config, redis, log } = fastify
  if (redis !== null) return new RedisStore(false, false, redis, 'onnx-serve-rate-limit:')
  if (PrimaryCounts.available()) {
    const counts = new PrimaryCounts()
    fastify.addHook('onClose', async () => counts.close())
    return countersStore(counts.incr.bind(counts))
  }
  const tables = new QuotaTables(config.rateLimitKeys, evictionWarning(log, config.rateLimitKeys))
  return countersStore(tables.incr.bind(tables))
}

/**
 * @fastify/rate-limit's counters: RATE_LIMIT_MAX requests per
 * RATE_LIMIT_WINDOW ms, shared by every pod through Redis when REDIS_URL is
 * set. If Redis is unreachable, requests are served (fail open), logged by
 * the redis plugin and counted in onnx_serve_rate_limit_store_unavailable_total.
 * Registered before auth, which counts failed attempts with it; the quota
 * itself is charged after auth (plugins/quota), by the verified subject.
 */
export default fp(async (fastify) => {
  const { config, metrics } = fastify
  /** The refusal of a spent quota, the same for every transport; `ttlSeconds`: until the window ends. */
  const quotaSpent = (max: number, ttlSeconds: number): TooManyRequestsError => new TooManyRequestsError(
    `rate limit of ${max} requests per ${config.rateLimitWindowMs / 1000} s exceeded; retry in ${format(ttlSeconds * 1000, true)}`,
    ttlSeconds
  )

  await fastify.register(rateLimit, {
    // Not a hook per route: plugins/quota charges every request at its place in the pipeline.
    global: false,
    max: config.rateLimitMax,
    timeWindow: config.rateLimitWindowMs,
    keyGenerator: rateLimitKey,
    store: countingFailures(storeFor(fastify), () => metrics.rateLimitStoreUnavailable.inc()),
    skipOnError: true,
    // The docs page loads six static files (page, scripts, styles): charged
    // to a caller's quota, a low one left it blank. They are public and
    // cheap; connection limits and load shedding bound them. The document
    // itself (/docs/json, /docs/yaml) is charged like any request.
    allowList: (request: FastifyRequest) => request.method === 'GET' && isDocsAsset(routeOf(request).url),
    errorResponseBuilder: (_request, context) => quotaSpent(context.max, Math.ceil(context.ttl / 1000))
  })
  fastify.decorate('keyedLimiter', (options = {}) => {
    // The library's limiters take a request, for its key generator and its
    // route's config (a group id); a keyed charge hands it a stand-in with a
    // key and an empty route config. The quota's allowList (the docs page's
    // files) is about HTTP routes: not here.
    const limit = fastify.createRateLimit({
      ...options,
      allowList: undefined,
      keyGenerator: request => (request as unknown as KeyedCharge).key
    })
    return async (key) => {
      const charge: KeyedCharge = { key, routeOptions: { config: {} } }
      const outcome = await limit(charge as unknown as FastifyRequest)
      // A store failure (skipOnError) answers without a count: allowed.
      return outcome.isAllowed ? { exceeded: false, max: 0, ttlSeconds: 0 } : { exceeded: outcome.isExceeded, max: outcome.max, ttlSeconds: outcome.ttlInSeconds }
    }
  })
  const quota = fastify.keyedLimiter()
  fastify.decorate('chargeQuota', async (key: string) => {
    const outcome = await quota(key)
    if (outcome.exceeded) throw quotaSpent(outcome.max, outcome.ttlSeconds)
  })

  // Behind a trusted proxy the address comes from X-Forwarded-For, which
  // carries whatever the client wrote there: a value that is no IP address
  // would be a fresh counter per request. Runs before auth (which depends on
  // this plugin), so failed authentications are counted by real addresses only.
  if (config.trustProxy === true) {
    fastify.log.warn('TRUST_PROXY=true: the client address is the leftmost X-Forwarded-For entry, which clients write themselves; anyone who reaches this port picks their own quota. List the proxies instead unless only they can connect.')
  }
  if (config.trustProxy !== false) {
    fastify.addHook('onRequest', async (request) => {
      if (addressKey(request.ip) === undefined) {
        throw new InputError('headers.x-forwarded-for', `headers.x-forwarded-for: expected IP addresses, received ${JSON.stringify(request.ip.slice(0, 64))}`)
      }
    })
  }
}, { name: 'rate-limit', dependencies: ['config', 'redis', 'metrics'] })
