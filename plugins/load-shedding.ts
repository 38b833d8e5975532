import fp from 'fastify-plugin'
import underPressure from '@fastify/under-pressure'
import { OverloadedError } from '../lib/errors'
import { routeOf } from '../http/route-of'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: answered even under pressure (liveness must not fail because the server is busy). */
    shed?: boolean
  }
}

/**
 * Load shedding with @fastify/under-pressure: while the event loop lags more
 * than MAX_EVENT_LOOP_DELAY_MS, requests get a 503 with Retry-After before
 * any work is done on them, and readiness reports it so balancers back off.
 */
export default fp(async (fastify) => {
  const maxEventLoopDelay = fastify.config.maxEventLoopDelayMs
  await fastify.register(underPressure, {
    maxEventLoopDelay,
    retryAfter: 1,
    // Thrown, not sent: under-pressure passes a rejection to next(err), which
    // ends the hook chain, while after a handler that sends it calls next(),
    // and the later onRequest hooks (auth) would run on a request already
    // being answered whenever sending goes through an asynchronous onSend hook.
    pressureHandler: async (request, _reply, type, value) => {
      if (routeOf(request).config.shed === false) return
      throw new OverloadedError(`the server is overloaded (${type} ${Math.round(Number(value))}); retry shortly`)
    }
  })
  // After security: a shed 503 carries the security headers too (onRequest
  // hooks run in registration order, and a reply sent from one skips the rest).
}, { name: 'load-shedding', dependencies: ['config', 'errors', 'security'] })
