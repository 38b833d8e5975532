// The data plane without HTTP: a real model manager over the fixture
// repository, and codecs and views of the test's own, as a transport would pass.

import t from 'tap'
import { DataPlane } from '../../../lib/data-plane/data-plane'
import type { InferCodec, RequestFacts } from '../../../lib/data-plane/infer-codec'
import { InputError } from '../../../lib/errors'
import { ModelManager } from '../../../lib/models/manager'
import { InferencePool } from '../../../lib/runtime/inference-pool'
import type { TensorMap } from '../../../lib/tensors/tensor'
import { buildFixtureRepository } from '../../helpers/fixture-repository'

const repository = t.testdir()
buildFixtureRepository(repository)
const pool = new InferencePool({ workers: 1, threadsPerSession: 1, maxPending: 64, timeoutMs: 10000 })
const manager = new ModelManager(pool, { repository, defaultModel: 'sum' })
t.teardown(() => manager.close())
t.before(() => manager.loadAll())

let condition: string | undefined
const plane = new DataPlane(manager, {
  server: { name: 'onnx-serve', version: '9.9.9' },
  limits: { maxRows: 4, maxElements: 1000 },
  serverCondition: () => condition
})

/** A codec that sends rows of three floats to `x` and answers with the outputs as they are. */
const rowsOfThree: InferCodec<number[][], TensorMap> = (rows, model) => {
  t.equal(model.name, 'sum', 'the codec gets the resolved model')
  return {
    feeds: { x: { type: 'float32', dims: [rows.length, 3], data: Float32Array.from(rows.flat()) } },
    field: 'rows',
    rows: true,
    reply: (outputs, record) => {
      t.equal(record.rows, rows.length, 'the plan\'s answer sees the record')
      return outputs
    }
  }
}

t.test('stuck inference threads: readiness fails one thread before liveness', async t => {
  let stuck = 0
  const counted = Object.create(manager, { stuckThreads: { value: () => stuck } }) as ModelManager
  const limited = new DataPlane(counted, { server: { name: 'x', version: '0' }, limits: { maxRows: 1, maxElements: 1 }, stuckLimit: 2 })
  t.equal(limited.notReadyReason(), undefined)
  t.equal(limited.notLiveReason(), undefined)
  stuck = 1
  t.equal(limited.notReadyReason(), '1 inference thread is stuck in runs past INFERENCE_TIMEOUT_MS (liveness fails at INFERENCE_STUCK_LIMIT=2)', 'out of rotation first')
  t.equal(limited.notLiveReason(), undefined, 'not restarted yet')
  stuck = 2
  t.equal(limited.notLiveReason(), '2 inference threads are stuck in runs past INFERENCE_TIMEOUT_MS (liveness fails at INFERENCE_STUCK_LIMIT=2)', 'then restarted')
  const unlimited = new DataPlane(counted, { server: { name: 'x', version: '0' }, limits: { maxRows: 1, maxElements: 1 } })
  t.equal(unlimited.notLiveReason(), undefined, 'without a limit, stuck threads never fail the probes')
})

t.test('server: its info through a view, live, and ready once the models are', async t => {
  t.same(plane.server(server => `${server.name} ${server.version}`), 'onnx-serve 9.9.9')
  t.equal(plane.notLiveReason(), undefined)
  t.equal(plane.notReadyReason(), undefined)
  condition = 'shutting down'
  t.teardown(() => { condition = undefined })
  t.equal(plane.notReadyReason(), 'shutting down', 'the server\'s own condition comes before the models')
})

t.test('infer: the default model, the newest version, the facts recorded', async t => {
  const facts: RequestFacts = {}
  const outputs = await plane.infer(rowsOfThree, {}, [[1, 2, 3], [4, 5, 6]], facts)
  t.same(Array.from(outputs.y.data as Float32Array), [12, 30], 'version 2 of sum doubles each row\'s sum')
  t.match(facts.inference, { model: 'sum', version: 2, rows: 2 })
  t.ok(typeof facts.inference?.inferenceMs === 'number' && facts.inference.inferenceMs >= 0, 'the time spent')
  t.notOk(facts.inference !== undefined && 'cache' in facts.inference, 'no cache outcome for a model without the cache')

  const named: RequestFacts = {}
  const one = await plane.infer(rowsOfThree, { name: 'sum', version: 2 }, [[1, 2, 3]], named)
  t.same(Array.from(one.y.data as Float32Array), [12], 'the version named')
  t.equal(named.inference?.version, 2)
})

t.test('infer: the limits every protocol shares, before any run', async t => {
  const runs = pool.pending
  const facts: RequestFacts = {}
  await t.rejects(plane.infer(rowsOfThree, {}, Array(5).fill([1, 2, 3]), facts),
    new InputError('rows', 'rows: at most 4 rows per request for model \'sum\', received 5'))
  t.same(facts, {}, 'nothing is recorded for a refused request')
  t.equal(pool.pending, runs)
  await t.rejects(plane.infer(rowsOfThree, { name: 'nope' }, [[1, 2, 3]], {}), { statusCode: 404, message: /^model 'nope' not found/ })
  await t.rejects(plane.infer(rowsOfThree, { name: 'broken' }, [[1, 2, 3]], {}), { statusCode: 503, message: /^model 'broken' is unavailable/ })
  await t.rejects(plane.infer(rowsOfThree, { name: 'sum', version: 1 }, [[1, 2, 3]], {}), { statusCode: 404, message: 'model \'sum\' has no served version 1; served versions: 2' })
})

t.test('model and catalog views', async t => {
  t.same(plane.model({ name: 'sum' }, ({ entry, model, requestedVersion }) => [entry.name, model.version, requestedVersion]), ['sum', 2, undefined])
  t.same(plane.model({ name: 'sum', version: 2 }, ({ model, requestedVersion }) => [model.version, requestedVersion]), [2, 2])
  const catalog = plane.catalog(({ entries, defaultModel }) => ({ names: entries.map(entry => entry.name), defaultModel }))
  t.equal(catalog.defaultModel, 'sum')
  t.ok(catalog.names.includes('broken'), 'models that cannot serve are listed too')
  t.equal(plane.modelLabel(undefined), 'sum', 'the default model')
  t.equal(plane.modelLabel('broken'), 'broken')
  t.equal(plane.modelLabel('anything a client writes'), 'unknown')
})

t.test('no model configured: 404 with the fix', async t => {
  const empty = new ModelManager(pool, { repository: t.testdir() })
  await empty.loadAll()
  const bare = new DataPlane(empty, { server: { name: 'x', version: '0' }, limits: { maxRows: 1, maxElements: 1 } })
  t.throws(() => bare.model({}, () => 1), { statusCode: 404, message: 'no model is configured; put one in the model repository or set DEFAULT_MODEL' })
  t.match(bare.notReadyReason(), /holds no model/)
})

t.test('the repository: index, load and unload', async t => {
  const rows = await plane.repositoryIndex()
  t.ok(rows.some(row => row.state !== 'READY'), 'every version, ready or not')
  const ready = await plane.repositoryIndex(true)
  t.ok(ready.length > 0 && ready.every(row => row.state === 'READY'), 'readyOnly: only the versions that serve')

  await t.rejects(plane.load('sum', { config: '{}' }), new InputError('body.parameters',
    'body.parameters: load parameters (config) are not supported; put the model and its config.json in the repository folder and send no parameters'))
  await t.rejects(plane.load('broken'), { statusCode: 400, field: 'name', message: /^failed to load model 'broken': / })
  await plane.unload('static')
  t.throws(() => plane.model({ name: 'static' }, () => 1), { statusCode: 503, message: 'model \'static\' is unavailable: unloaded' })
  await plane.load('static')
  t.equal(plane.model({ name: 'static' }, ({ model }) => model.name), 'static', 'serves again once loaded')
})
