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
 * shutting down, not shedding load, models ready (lib/model-manager). A
 * shared dependency never decides readiness: with Redis down every pod
 * would leave rotation at once, while each can serve without it (limits
 * fail open, the cache misses). Redis is reported instead: in readiness's
 * body, the onnx_serve_redis_up metric and the log (plugins/redis).
 */
export default fp(async (fastify) => {
  fastify.decorate('lifecycle', { draining: false })
  fastify.addHook('preClose', async () => {
    fastify.lifecycle.draining = true
  })
  fastify.decorate('notReadyReason', (): string | undefined => {
    if (fastify.lifecycle.draining) return 'shutting down'
    if (fastify.isUnderPressure()) return 'overloaded'
    return fastify.models.notReadyReason()
  })
}, { name: 'lifecycle', dependencies: ['models', 'load-shedding'] })
