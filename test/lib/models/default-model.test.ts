// Without DEFAULT_MODEL, /predict serves the first model by name that served
// after the first load, and keeps serving it: a model loaded later whose name
// sorts first does not take its place.

import t from 'tap'
import { cpSync } from 'node:fs'
import { join } from 'node:path'
import { ModelManager } from '../../../lib/models/manager'
import { InferencePool } from '../../../lib/runtime/inference-pool'
import { bundledRepository } from '../../helpers/build-app'

t.test('the default model is chosen once, at the end of the first load', async t => {
  const repository = t.testdir()
  cpSync(join(bundledRepository, 'iris'), join(repository, 'iris'), { recursive: true })
  const pool = new InferencePool({ workers: 1, threadsPerSession: 1, maxPending: 8, timeoutMs: 10_000 })
  const manager = new ModelManager(pool, { repository })
  t.teardown(() => manager.close())
  await manager.loadAll()
  t.equal(manager.registry.defaultModel(), 'iris')

  cpSync(join(bundledRepository, 'iris'), join(repository, 'aardvark'), { recursive: true })
  t.equal((await manager.load('aardvark')).state, 'READY')
  t.equal(manager.registry.defaultModel(), 'iris', 'a model sorting first, loaded later, does not replace it')

  const configured = new ModelManager(pool, { repository, defaultModel: 'iris' })
  t.equal(configured.registry.defaultModel(), 'iris', 'DEFAULT_MODEL is what it says, before any load too')
})
