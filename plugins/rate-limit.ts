import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'
import { TooManyRequestsError } from '../lib/errors'

/** Quotas are per token subject; a request without a verified token is counted by IP address. */
export function rateLimitKey (request: FastifyRequest): string {
  const subject = request.user?.sub
  return typeof subject === 'string' && subject !== '' ? `sub:${subject}` : `ip:${request.ip}`
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
    redis: redis ?? undefined,
    nameSpace: 'onnx-serve-rate-limit:',
    skipOnError: true,
    errorResponseBuilder: (_request, context) => new TooManyRequestsError(
      `rate limit of ${context.max} requests per ${config.rateLimitWindowMs / 1000} s exceeded; retry in ${context.after}`,
      Math.ceil(context.ttl / 1000)
    )
  })
  if (redis !== null) {
    fastify.addHook('onRequest', async () => {
      if (redis.status !== 'ready') metrics.rateLimitStoreUnavailable.inc()
    })
  }
}, { name: 'rate-limit', dependencies: ['config', 'redis', 'metrics'] })
