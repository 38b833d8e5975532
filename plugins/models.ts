import { join } from 'node:path'
import fp from 'fastify-plugin'
import { InferencePool } from '../lib/runtime/inference-pool'
import { ModelManager } from '../lib/models/manager'

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
  const { config, metrics } = fastify
  const pool = new InferencePool({
    workers: config.inferenceThreads,
    threadsPerSession: 1,
    maxPending: config.inferenceQueue,
    timeoutMs: config.inferenceTimeoutMs,
    onWorkerExit: code => {
      metrics.workerRestarts.inc()
      fastify.log.error({ code }, 'an inference worker exited; a new one is loading the models')
    }
  })
  const models = new ModelManager(pool, {
    repository: config.modelRepository,
    defaultModel: config.defaultModel,
    // By then the pool has answered every run holding a version being let go.
    drainTimeoutMs: config.inferenceTimeoutMs,
    log: fastify.log,
    observer: {
      batch: (model, rows, waitsMs) => {
        const labels = { model: model.name, version: String(model.version) }
        metrics.batchSize.observe(labels, rows)
        for (const ms of waitsMs) metrics.queueWait.observe(labels, ms / 1000)
      }
    }
  })
  fastify.decorate('models', models)

  // Reasons that clients see name files relative to the repository; the log
  // is the server's own, so it names the folders in full for the operator.
  const loading = models.loadAll().then(() => {
    const entries = models.registry.list()
    if (entries.length === 0) fastify.log.warn({ repository: config.modelRepository }, 'the model repository holds no model')
    else fastify.log.info({ repository: config.modelRepository, models: entries.length }, 'model repository read')
    for (const entry of entries) {
      if (entry.state === 'READY') {
        fastify.log.info({ model: entry.name, versions: [...entry.loaded.keys()] }, 'model ready')
      } else {
        fastify.log.warn({ model: entry.name, folder: join(config.modelRepository, entry.name), reason: entry.reason }, 'model unavailable')
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
}, { name: 'models', dependencies: ['config', 'metrics'] })

declare module 'fastify' {
  interface FastifyInstance {
    /** Settles when the first load of the repository has finished, well or not. */
    modelsLoaded: Promise<void>
  }
}
