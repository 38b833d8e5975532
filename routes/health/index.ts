import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { probeLogLevel } from '../../http/probe-log-level'

const Health = Type.Object({
  status: Type.String({ examples: ['ok'] }),
  reason: Type.Optional(Type.String()),
  redis: Type.Optional(Type.String({ description: 'With REDIS_URL: the shared store\'s connection (ready, connecting, reconnecting, …); reported, never a reason for 503' }))
})

const health: FastifyPluginAsyncTypebox = async (fastify) => {
  // Probes are never rate limited, and liveness is answered even under pressure.
  const config = { rateLimit: false, shed: false } as const
  const logLevel = probeLogLevel(fastify.config.logLevel)

  /** A probe: 200 while `reason()` finds nothing wrong, else 503 with it (and `Retry-After` when coming back is expected). */
  const probe = (path: string, summary: string, unavailable: { description: string, example: string }, reason: () => string | undefined,
    details: () => { redis?: string } = () => ({}), retryAfter?: string): void => {
    fastify.get(path, {
      logLevel,
      config,
      schema: {
        summary,
        tags: ['health'],
        response: {
          200: Health,
          503: { ...Health, description: `503 Service Unavailable: ${unavailable.description}`, examples: [{ status: 'unavailable', reason: unavailable.example }] }
        }
      }
    }, async (_request, reply) => {
      const why = reason()
      if (why === undefined) return { status: 'ok', ...details() }
      if (retryAfter !== undefined) reply.header('retry-after', retryAfter)
      return reply.code(503).send({ status: 'unavailable', reason: why, ...details() })
    })
  }

  const { dataPlane } = fastify
  probe('/live', 'Liveness: the process answers and can serve', {
    description: 'restart this process, and why',
    example: '2 inference threads are stuck in runs past INFERENCE_TIMEOUT_MS (liveness fails at INFERENCE_STUCK_LIMIT=2)'
  }, () => dataPlane.notLiveReason())
  probe('/ready', 'Readiness: models loaded and warmed up, not shutting down', {
    description: 'not ready, and why', example: 'models are loading'
  }, () => dataPlane.notReadyReason(), () => fastify.redis === null ? {} : { redis: fastify.redis.status }, '5')
}

export default health
