import fp from 'fastify-plugin'
import { InferencePool } from '../lib/inference-pool'
import { ModelManager } from '../lib/model-manager'
import type { PredictionLimits } from '../lib/predictions'

declare module 'fastify' {
  interface FastifyInstance {
    models: ModelManager
  }
}

/**
 * Loads the model repository into a pool of inference worker threads. The
 * load runs in the background so the server answers liveness at once;
 * readiness turns 200 when every model is loaded and warmed up.
 */
export default fp(async (fastify) => {
  const { config } = fastify
  const pool = new InferencePool({
    workers: config.inferenceThreads,
    threadsPerSession: 1,
    maxPending: config.inferenceQueue,
    timeoutMs: config.inferenceTimeoutMs
  })
  const models = new ModelManager(pool, { repository: config.modelRepository, defaultModel: config.defaultModel })
  fastify.decorate('models', models)
  fastify.decorate('predictionLimits', { maxRows: config.maxRows, maxElements: config.maxTensorElements })

  const loading = models.loadAll().then(() => {
    for (const entry of models.list()) {
      if (entry.state === 'READY') {
        fastify.log.info({ model: entry.name, versions: [...entry.loaded.keys()] }, 'model ready')
      } else {
        fastify.log.warn({ model: entry.name, reason: entry.reason }, 'model unavailable')
      }
    }
  }, (error: unknown) => {
    fastify.log.error({ err: error, repository: config.modelRepository }, 'cannot read the model repository')
  })
  fastify.decorate('modelsLoaded', loading)

  fastify.addHook('onClose', async () => {
    await loading
    await models.close()
  })
}, { name: 'models', dependencies: ['config'] })

declare module 'fastify' {
  interface FastifyInstance {
    /** Settles when the first load of the repository has finished, well or not. */
    modelsLoaded: Promise<void>
    predictionLimits: PredictionLimits
  }
}
