import type { FastifyPluginAsync } from 'fastify'

const metrics: FastifyPluginAsync = async (fastify) => {
  const { registry, render, chargeScrape } = fastify.metrics
  fastify.get('/metrics', {
    // Not charged to the caller's quota and answered even under pressure (an
    // overload is when the numbers matter most); scrapes have a quota of
    // their own per address, so a pipelined burst is refused cheaply.
    // METRICS_AUTH=true: only tokens with the metrics scope may read them.
    config: { rateLimit: false, shed: false, ...(fastify.config.metricsAuth ? { scope: 'metrics' as const } : {}) },
    schema: { summary: 'Prometheus metrics (text format)', tags: ['health'], produces: ['text/plain'] }
  }, async (request, reply) => {
    chargeScrape(request.ip)
    reply.type(registry.contentType)
    return render()
  })
}

export default metrics
