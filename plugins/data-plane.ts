import cluster from 'node:cluster'
import fp from 'fastify-plugin'
import { name, version } from '../package.json'
import { DataPlane } from '../lib/data-plane/data-plane'
import { answerGathers, gatherFromAll } from '../lib/cluster/gather'
import type { VersionStatistics } from '../lib/stats/model-statistics'

declare module 'fastify' {
  interface FastifyInstance {
    /** Every operation on the server and its models, for every route (lib/data-plane). */
    dataPlane: DataPlane
  }
}

/**
 * The data plane over the models, the limits and the prediction cache. The
 * server is not ready while it shuts down or sheds load, whatever the
 * models say; a shared dependency (Redis) never decides readiness: with it
 * down every pod would leave rotation at once, while each can serve without
 * it (limits fail open, the cache misses). Redis is reported instead: in
 * readiness's body, the onnx_serve_redis_up metric and the log.
 */
export default fp(async (fastify) => {
  const { config, lifecycle } = fastify
  // With WORKERS > 1 the statistics are the process group's, like the metrics.
  const STATISTICS = 'model-statistics'
  const grouped = cluster.isWorker && process.send !== undefined
  const dataPlane = new DataPlane(fastify.models, {
    server: { name, version },
    limits: { maxRows: config.maxRows, maxElements: config.maxTensorElements },
    cache: fastify.predictionCache,
    stuckLimit: config.inferenceStuckLimit,
    modelControl: config.modelControlMode,
    serverCondition: () => lifecycle.draining ? 'shutting down' : fastify.overloaded() ? 'overloaded' : undefined,
    // The probes' own request lines are not logged (routes/health, routes/v2): their changes are.
    onHealthChange: (probe, reason) => {
      if (reason === undefined) fastify.log.info({ probe }, probe === 'live' ? 'live again' : 'ready')
      else fastify.log.warn({ probe, reason }, `${probe === 'live' ? 'not live' : 'not ready'}: ${reason}`)
    },
    ...(grouped ? { gatherStatistics: async () => await gatherFromAll(STATISTICS) as VersionStatistics[][] } : {}),
    spans: fastify.tracing?.spans
  })
  if (grouped) answerGathers(STATISTICS, () => dataPlane.localStatistics())
  fastify.decorate('dataPlane', dataPlane)
}, { name: 'data-plane', dependencies: ['config', 'models', 'caching', 'lifecycle', 'load-shedding', 'tracing'] })
