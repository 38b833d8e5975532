import fp from 'fastify-plugin'
import { lastLoadFailure, servedVersions } from '../lib/models/manager'
import { fingerprintRepository } from '../lib/models/repository-fingerprint'
import { RepositoryPoller } from '../lib/models/repository-poller'

/**
 * MODEL_CONTROL_MODE=poll: the model repository followed while serving
 * (lib/models/repository-poller). Each change two scans in a row agree on is
 * loaded (a model or version added, a file or config.json changed) or
 * unloaded (a folder gone), and logged. The baseline is scanned as this
 * plugin registers, just after the models plugin began its first load: the
 * two read the folder within milliseconds of each other.
 */
export default fp(async (fastify) => {
  const { config, metrics, log, models } = fastify
  if (config.modelControlMode !== 'poll') return
  const baseline = fingerprintRepository(config.modelRepository).catch(() => new Map<string, string>())
  const poller = new RepositoryPoller({
    intervalMs: config.repositoryPollMs,
    scan: async () => await fingerprintRepository(config.modelRepository),
    onScan: (ms, error) => {
      metrics.repositoryScanSeconds.set(ms / 1000)
      if (error !== undefined) log.error({ err: error, repository: config.modelRepository }, 'cannot scan the model repository; nothing changes until it can')
    },
    apply: async ({ name, kind }) => {
      if (kind === 'unload') {
        await models.unload(name)
        log.info({ model: name }, `model '${name}' is gone from the repository: unloaded`)
        return
      }
      const entry = await models.load(name)
      const failure = lastLoadFailure(entry)
      const versions = servedVersions(entry).join(', ')
      if (failure === undefined) log.info({ model: name, versions }, `model '${name}' changed in the repository: loaded`)
      else if (entry.state === 'READY') log.error({ model: name, reason: failure, versions }, `model '${name}' changed in the repository; what changed cannot load, and it serves version ${versions}`)
      else log.error({ model: name, reason: failure }, `model '${name}' changed in the repository and cannot serve`)
    },
    onError: ({ name, kind }, error) => log.error({ err: error, model: name }, `cannot ${kind} model '${name}' after a change of the repository`)
  })
  fastify.modelsLoaded.then(async () => poller.start(await baseline), () => {})
  log.info({ repository: config.modelRepository, everyMs: config.repositoryPollMs }, 'following the model repository (MODEL_CONTROL_MODE=poll)')
  // Before the models plugin's own onClose (hooks run in reverse order): no load starts while the sessions are released.
  fastify.addHook('onClose', async () => await poller.stop())
}, { name: 'repository-poll', dependencies: ['config', 'metrics', 'models'] })
