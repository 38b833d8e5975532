import fp from 'fastify-plugin'
import rateLimit, { type FastifyRateLimitStore, type FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'
import type { Redis } from 'ioredis'
import { TooManyRequestsError } from '../lib/errors'

/** Quotas are per token subject; a request without a verified token is counted by IP address. */
export function rateLimitKey (request: FastifyRequest): string {
  const subject = request.user?.sub
  return typeof subject === 'string' && subject !== '' ? `sub:${subject}` : `ip:${request.ip}`
}

type RedisStoreCtor = new (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, nameSpace: string) => FastifyRateLimitStore
// The library's own Redis store (one Lua INCR + PEXPIRE per request); its typings do not export it.
const RedisStore = require('@fastify/rate-limit/store/RedisStore') as RedisStoreCtor

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
      return new (countingFailures(inner.child(routeOptions), onFailure))({})
    }
  }
}

/**
 * Per-identity quotas with @fastify/rate-limit: RATE_LIMIT_MAX requests per
 * RATE_LIMIT_WINDOW ms, shared by every pod through Redis when REDIS_URL is
 * set. If Redis is unreachable, requests are served (fail open), logged by
 * the redis plugin and counted in onnx_serve_rate_limit_store_unavailable_total.
 * The limiter's hooks are per route, so they run after the global auth hook
 * and see the verified subject.
 */
export default fp(async (fastify) => {
  const { config, redis, metrics } = fastify
  await fastify.register(rateLimit, {
    global: true,
    max: config.rateLimitMax,
    timeWindow: config.rateLimitWindowMs,
    keyGenerator: rateLimitKey,
    store: redis === null
      ? undefined
      : countingFailures(new RedisStore(false, false, redis, 'onnx-serve-rate-limit:'), () => metrics.rateLimitStoreUnavailable.inc()),
    skipOnError: true,
    errorResponseBuilder: (_request, context) => new TooManyRequestsError(
      `rate limit of ${context.max} requests per ${config.rateLimitWindowMs / 1000} s exceeded; retry in ${context.after}`,
      Math.ceil(context.ttl / 1000)
    )
  })
}, { name: 'rate-limit', dependencies: ['config', 'redis', 'metrics'] })
