import { join } from 'node:path'
import fp from 'fastify-plugin'
import { PlacedRuntime } from '../lib/runtime/placement'
import { ModelManager, lastLoadFailure, servedVersions } from '../lib/models/manager'
import { missingDefaultModel } from '../lib/models/missing-default'

declare module 'fastify' {
  interface FastifyInstance {
    models: ModelManager
  }
}

/** Model files above this open in the worker threads: opening one on the main thread stalls it (17 MB: 120 ms). */
const INLINE_MAX_FILE_BYTES = 4 * 1024 * 1024
/** Nor graphs of more nodes than this: about 35 ms of opening (a 20,000-node graph in 700 KB took 670 ms). */
const INLINE_MAX_NODES = 1000

/**
 * Loads the model repository, each version placed where its runs are
 * cheapest (lib/runtime/placement): inline on the main thread, or in a pool
 * of worker threads started when a first version needs them. The load runs
 * in the background so the server answers liveness at once; readiness turns
 * 200 when every model is loaded and warmed up.
 */
export default fp(async (fastify) => {
  const { config, metrics } = fastify
  const runtime = new PlacedRuntime({
    workers: config.inferenceThreads,
    threadsPerSession: 1,
    maxPending: config.inferenceQueue,
    timeoutMs: config.inferenceTimeoutMs,
    mode: config.inferencePlacement,
    inlineMaxMs: config.inlineRunMaxMs,
    inlineMaxFileBytes: INLINE_MAX_FILE_BYTES,
    inlineMaxNodes: INLINE_MAX_NODES,
    maxStuckThreads: config.inferenceStuckLimit,
    onStuckChange: (stuck, event) => {
      if (event === 'set-aside') {
        metrics.stuckThreadsSetAside.inc()
        fastify.log.error({ stuckThreads: stuck, limit: config.inferenceStuckLimit },
          `an inference thread is stuck in a run past INFERENCE_TIMEOUT_MS (${config.inferenceTimeoutMs} ms); it was set aside and replaced`)
      } else {
        fastify.log.warn({ stuckThreads: stuck }, 'a stuck inference thread finished its run and exited')
      }
    },
    onWorkerExit: code => {
      metrics.workerRestarts.inc()
      fastify.log.error({ code }, 'an inference worker exited; a new one is loading the models')
    },
    onMove: (key, to, reason) => fastify.log.info({ session: key, placement: to, reason }, `model version ${key.split('#')[0]} now runs ${to === 'inline' ? 'inline on the main thread' : 'in the worker threads'}`)
  })
  const models = new ModelManager(runtime, {
    repository: config.modelRepository,
    defaultModel: config.defaultModel,
    // By then the pool has answered every run holding a version being let go.
    drainTimeoutMs: config.inferenceTimeoutMs,
    log: fastify.log,
    spans: fastify.tracing?.spans,
    observer: {
      batch: (model, rows, waitsMs) => {
        const labels = { model: model.name, version: String(model.version) }
        metrics.batchSize.observe(labels, rows)
        for (const ms of waitsMs) metrics.queueWait.observe(labels, ms / 1000)
      },
      loaded: entry => metrics.modelLoads.inc({ model: entry.name, outcome: lastLoadFailure(entry) === undefined ? 'ready' : 'failed' }),
      unloaded: name => metrics.modelUnloads.inc({ model: name })
    }
  })
  fastify.decorate('models', models)

  // Reasons that clients see name files relative to the repository; the log
  // is the server's own, so it names the folders in full for the operator.
  const loading = models.loadAll().then(() => {
    const entries = models.registry.list()
    if (entries.length === 0) fastify.log.warn({ repository: config.modelRepository }, 'the model repository holds no model')
    else fastify.log.info({ repository: config.modelRepository, models: entries.length }, 'model repository read')
    const missing = missingDefaultModel(config.defaultModel, entries.map(entry => entry.name), config.modelRepository)
    if (missing !== undefined) fastify.log.error({ repository: config.modelRepository }, missing)
    const defaultModel = models.registry.defaultModel()
    if (config.defaultModel === undefined && defaultModel !== undefined) {
      fastify.log.info({ model: defaultModel }, `/predict serves '${defaultModel}', the first model by name, from now on; set DEFAULT_MODEL to choose`)
    }
    for (const entry of entries) {
      if (entry.state === 'READY') {
        const placements = Object.fromEntries([...entry.loaded.values()].map(version => [version.version, runtime.placementOf(version.key)]))
        const versions = servedVersions(entry)
        fastify.log.info({ model: entry.name, versions, placements }, 'model ready')
        for (const [version, reason] of entry.failed ?? []) {
          fastify.log.error({ model: entry.name, version, reason }, `model '${entry.name}' version ${version} cannot load; the model serves version ${versions.join(', ')} without it`)
        }
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
}, { name: 'models', dependencies: ['config', 'metrics', 'tracing'] })

declare module 'fastify' {
  interface FastifyInstance {
    /** Settles when the first load of the repository has finished, well or not. */
    modelsLoaded: Promise<void>
  }
}
