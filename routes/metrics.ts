import cluster from 'node:cluster'
import type { FastifyPluginAsync } from 'fastify'
import { clusterRenderer } from '../lib/metrics/cluster-metrics'
import { TooManyRequestsError } from '../lib/errors'
import { SCRAPES_PER_MINUTE } from '../plugins/metrics'

const metrics: FastifyPluginAsync = async (fastify) => {
  const { registry, scrapeAllowed } = fastify.metrics
  // In a process of a cluster (WORKERS > 1), one scrape answers for every process.
  const metricsText = cluster.isWorker ? clusterRenderer(registry) : async () => await registry.metrics()
  // Scrapes that arrive while one is rendering share its text.
  let rendering: Promise<string> | undefined
  const render = (): Promise<string> => {
    rendering ??= metricsText().finally(() => { rendering = undefined })
    return rendering
  }

  fastify.get('/metrics', {
    // Not charged to the caller's quota and answered even under pressure (an
    // overload is when the numbers matter most); scrapes have a quota of
    // their own per address, so a pipelined burst is refused cheaply.
    // METRICS_AUTH=true: only tokens with the metrics scope may read them.
    config: { rateLimit: false, shed: false, ...(fastify.config.metricsAuth ? { scope: 'metrics' as const } : {}) },
    schema: { summary: 'Prometheus metrics (text format)', tags: ['health'], produces: ['text/plain'] }
  }, async (request, reply) => {
    if (!scrapeAllowed(request.ip)) throw new TooManyRequestsError(`more than ${SCRAPES_PER_MINUTE} scrapes a minute from this address`, 60, 'scrapes')
    reply.type(registry.contentType)
    return render()
  })
}

export default metrics
