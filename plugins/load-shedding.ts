import fp from 'fastify-plugin'
import underPressure from '@fastify/under-pressure'
import { OverloadedError } from '../lib/errors'
import { routeOf } from '../http/route-of'

declare module 'fastify' {
  interface FastifyInstance {
    /** Whether the event loop lags past the limit now (false while the start-up's own stall is still in the sample). */
    overloaded: () => boolean
  }
  interface FastifyContextConfig {
    /** false: answered even under pressure (liveness must not fail because the server is busy). */
    shed?: boolean
  }
}

/** under-pressure's sample: the mean delay over this interval is compared with the limit. */
const SAMPLE_INTERVAL_MS = 1000

/**
 * Load shedding with @fastify/under-pressure: while the event loop lags more
 * than MAX_EVENT_LOOP_DELAY_MS, requests get a 503 with Retry-After before
 * any work is done on them, and readiness reports it so balancers back off.
 */
export default fp(async (fastify) => {
  const maxEventLoopDelay = fastify.config.maxEventLoopDelayMs
  // Opening models, compiling schemas and the docs document block a starting
  // process's loop (seconds on a busy node): that stall is not an overload.
  // The sample that holds it ends at most one interval after ready, and a
  // late tick can push that end by one more.
  let measuredFrom = Infinity
  fastify.addHook('onReady', async () => { measuredFrom = Date.now() + 2 * SAMPLE_INTERVAL_MS })
  fastify.decorate('overloaded', () => Date.now() >= measuredFrom && fastify.isUnderPressure())
  await fastify.register(underPressure, {
    maxEventLoopDelay,
    sampleInterval: SAMPLE_INTERVAL_MS,
    retryAfter: 1,
    // Thrown, not sent: under-pressure passes a rejection to next(err), which
    // ends the hook chain, while after a handler that sends it calls next(),
    // and the later onRequest hooks (auth) would run on a request already
    // being answered whenever sending goes through an asynchronous onSend hook.
    pressureHandler: async (request, _reply, type, value) => {
      if (routeOf(request).config.shed === false || Date.now() < measuredFrom) return
      throw new OverloadedError(`the server is overloaded (${type} ${Math.round(Number(value))}); retry shortly`)
    }
  })
  // After security: a shed 503 carries the security headers too (onRequest
  // hooks run in registration order, and a reply sent from one skips the rest).
}, { name: 'load-shedding', dependencies: ['config', 'errors', 'security'] })
