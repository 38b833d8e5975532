import type { FastifyPluginAsync } from 'fastify'

const metrics: FastifyPluginAsync = async (fastify) => {
  fastify.get('/metrics', {
    // Never limited, and answered even under pressure: an overload is when the numbers matter most.
    config: { rateLimit: false, shed: false },
    schema: { summary: 'Prometheus metrics (text format)', tags: ['health'], produces: ['text/plain'] }
  }, async (_request, reply) => {
    reply.type(fastify.metrics.registry.contentType)
    return fastify.metrics.registry.metrics()
  })
}

export default metrics
