import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

const Health = Type.Object({
  status: Type.String({ examples: ['ok'] }),
  reason: Type.Optional(Type.String())
})

const health: FastifyPluginAsyncTypebox = async (fastify) => {
  // Probes come every few seconds from every load balancer: log only trouble.
  const logLevel = 'warn'

  fastify.get('/live', {
    logLevel,
    schema: { summary: 'Liveness: the process answers', tags: ['health'], response: { 200: Health } }
  }, async () => ({ status: 'ok' }))

  fastify.get('/ready', {
    logLevel,
    schema: {
      summary: 'Readiness: models loaded and warmed up, not shutting down',
      tags: ['health'],
      response: { 200: Health, 503: Health }
    }
  }, async (_request, reply) => {
    const reason = fastify.lifecycle.draining
      ? 'shutting down'
      : fastify.models.notReadyReason()
    if (reason === undefined) return { status: 'ok' }
    return reply.code(503).header('retry-after', '5').send({ status: 'unavailable', reason })
  })
}

export default health
