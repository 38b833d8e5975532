import fp from 'fastify-plugin'

export interface Lifecycle {
  /** Set when shutdown begins: readiness answers 503 so load balancers move on. */
  draining: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    lifecycle: Lifecycle
  }
}

/** Shutdown state, set by server.ts when a signal comes and by Fastify's close. */
export default fp(async (fastify) => {
  fastify.decorate('lifecycle', { draining: false })
  fastify.addHook('preClose', async () => {
    fastify.lifecycle.draining = true
  })
}, { name: 'lifecycle' })
