import type { FastifyPluginAsync } from 'fastify'

const metrics: FastifyPluginAsync = async (fastify) => {
  fastify.get('/metrics', {
    config: { rateLimit: false },
    schema: { summary: 'Prometheus metrics (text format)', tags: ['health'], produces: ['text/plain'] }
  }, async (_request, reply) => {
    reply.type(fastify.metrics.registry.contentType)
    return fastify.metrics.registry.metrics()
  })
}

export default metrics
