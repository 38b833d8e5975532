import fp from 'fastify-plugin'
import type { onRequestAsyncHookHandler } from 'fastify'
import { routeOf } from '../http/route-of'

/**
 * The quota of each identity, charged on every request after auth (so it
 * counts the verified subject, and failed authentications cost nothing
 * here) and before the cache (so a cached answer is not free), unknown URLs
 * included. Probes, /metrics and the docs page's files are not charged
 * (`config.rateLimit: false`, the limiter's allowList).
 */
export default fp(async (fastify) => {
  const limit = fastify.rateLimit() as onRequestAsyncHookHandler
  fastify.addHook('onRequest', async function chargeQuota (request, reply) {
    if (routeOf(request).config.rateLimit === false) return
    await limit.call(this, request, reply)
  })
}, { name: 'quota', dependencies: ['rate-limit', 'auth'] })
