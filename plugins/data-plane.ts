import fp from 'fastify-plugin'
import { name, version } from '../package.json'
import { DataPlane } from '../lib/data-plane/data-plane'

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
  fastify.decorate('dataPlane', new DataPlane(fastify.models, {
    server: { name, version },
    limits: { maxRows: config.maxRows, maxElements: config.maxTensorElements },
    cache: fastify.predictionCache,
    stuckLimit: config.inferenceStuckLimit,
    serverCondition: () => lifecycle.draining ? 'shutting down' : fastify.isUnderPressure() ? 'overloaded' : undefined,
    // The probes' own request lines are not logged (routes/health, routes/v2): their changes are.
    onHealthChange: (probe, reason) => {
      if (reason === undefined) fastify.log.info({ probe }, probe === 'live' ? 'live again' : 'ready')
      else fastify.log.warn({ probe, reason }, `${probe === 'live' ? 'not live' : 'not ready'}: ${reason}`)
    }
  }))
}, { name: 'data-plane', dependencies: ['config', 'models', 'caching', 'lifecycle', 'load-shedding'] })
