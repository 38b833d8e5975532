import fp from 'fastify-plugin'

export interface Lifecycle {
  /** Set when shutdown begins: readiness answers 503 so load balancers move on. */
  draining: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    lifecycle: Lifecycle
    /** Why the server should not get traffic now (both readiness routes answer with it), or undefined. */
    notReadyReason: () => string | undefined
  }
}

/**
 * Shutdown state (set by server.ts) and the one readiness rule: not
 * shutting down, not shedding load, models ready (lib/model-manager), and
 * the configured Redis reachable (README: Security, Rate limits).
 */
export default fp(async (fastify) => {
  fastify.decorate('lifecycle', { draining: false })
  fastify.addHook('preClose', async () => {
    fastify.lifecycle.draining = true
  })
  fastify.decorate('notReadyReason', (): string | undefined => {
    if (fastify.lifecycle.draining) return 'shutting down'
    if (fastify.isUnderPressure()) return 'overloaded'
    const redis = fastify.redis
    return fastify.models.notReadyReason() ?? (redis === null || redis.status === 'ready' ? undefined : `redis is ${redis.status}`)
  })
}, { name: 'lifecycle', dependencies: ['models', 'redis', 'load-shedding'] })
