// Without DEFAULT_MODEL, /predict serves the first model by name that served
// after the first load, and keeps serving it: a model loaded later whose name
// sorts first does not take its place.

import t from 'tap'
import { cpSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ModelManager } from '../../../lib/models/manager'
import { InferencePool } from '../../../lib/runtime/inference-pool'
import { missingDefaultModel } from '../../../lib/models/missing-default'
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

t.test('reasons name no real path, through a symlinked repository too', async t => {
  const real = t.testdir({ broken: { 1: { 'model.onnx': 'not a model' } } })
  const outside = mkdtempSync(join(tmpdir(), 'onnx-serve-link-'))
  t.teardown(() => rmSync(outside, { recursive: true, force: true }))
  const link = join(outside, 'models')
  symlinkSync(real, link)
  const pool = new InferencePool({ workers: 1, threadsPerSession: 1, maxPending: 8, timeoutMs: 10_000 })
  const manager = new ModelManager(pool, { repository: link })
  t.teardown(() => manager.close())
  await manager.loadAll()
  const reason = manager.registry.find('broken')?.reason
  t.match(reason, /broken\/1\/model\.onnx/, `the file is named inside the repository: ${reason}`)
  t.notMatch(reason, realpathSync(real), 'not by its real path')
  t.notMatch(reason, link, 'nor by the configured one')
})

t.test('a DEFAULT_MODEL the repository does not hold is one line naming what it holds, and the nearest name', async t => {
  t.equal(missingDefaultModel(undefined, ['digits'], '/srv/models'), undefined, 'unset: nothing to say')
  t.equal(missingDefaultModel('digits', ['digits'], '/srv/models'), undefined, 'there: nothing to say')
  t.equal(missingDefaultModel('iris', ['digits', 'mnist'], '/srv/models'),
    "DEFAULT_MODEL 'iris' is not in the repository /srv/models, which holds 'digits', 'mnist'. The server stays unready until it is: correct DEFAULT_MODEL, or unset it and /predict serves the first model by name")
  t.match(missingDefaultModel('digts', ['digits', 'mnist'], '/srv/models'), /; did you mean 'digits'\?/, 'a letter missing')
  t.match(missingDefaultModel('Digits', ['digits'], '/srv/models'), /; did you mean 'digits'\?/, 'another case')
  t.notMatch(missingDefaultModel('iris', ['digits'], '/srv/models'), /did you mean/, 'no guess when nothing is near')
  t.match(missingDefaultModel('iris', [], '/srv/models'), /which holds no model\./)
})
