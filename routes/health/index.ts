import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

const Health = Type.Object({
  status: Type.String({ examples: ['ok'] }),
  reason: Type.Optional(Type.String()),
  redis: Type.Optional(Type.String({ description: 'With REDIS_URL: the shared store\'s connection (ready, connecting, reconnecting, …); reported, never a reason for 503' }))
})

const health: FastifyPluginAsyncTypebox = async (fastify) => {
  // Probes come every few seconds from every load balancer: log only trouble,
  // and nothing when LOG_LEVEL asks for less than that.
  const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const
  const logLevel = levels[Math.max(levels.indexOf('warn'), levels.indexOf(fastify.config.logLevel as typeof levels[number]))]

  // Probes are never rate limited, and liveness is answered even under pressure.
  const config = { rateLimit: false, shed: false } as const

  fastify.get('/live', {
    logLevel,
    config,
    schema: {
      summary: 'Liveness: the process answers and can serve',
      tags: ['health'],
      response: {
        200: Health,
        503: { ...Health, description: '503 Service Unavailable: restart this process, and why', examples: [{ status: 'unavailable', reason: '2 inference threads are stuck in runs past INFERENCE_TIMEOUT_MS (liveness fails at INFERENCE_STUCK_LIMIT=2)' }] }
      }
    }
  }, async (_request, reply) => {
    const reason = fastify.dataPlane.notLiveReason()
    if (reason === undefined) return { status: 'ok' }
    return reply.code(503).send({ status: 'unavailable', reason })
  })

  fastify.get('/ready', {
    logLevel,
    config,
    schema: {
      summary: 'Readiness: models loaded and warmed up, not shutting down',
      tags: ['health'],
      response: {
        200: Health,
        503: { ...Health, description: '503 Service Unavailable: not ready, and why', examples: [{ status: 'unavailable', reason: 'models are loading' }] }
      }
    }
  }, async (_request, reply) => {
    const reason = fastify.dataPlane.notReadyReason()
    const redis = fastify.redis === null ? {} : { redis: fastify.redis.status }
    if (reason === undefined) return { status: 'ok', ...redis }
    return reply.code(503).header('retry-after', '5').send({ status: 'unavailable', reason, ...redis })
  })
}

export default health
