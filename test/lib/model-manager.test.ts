import t from 'tap'
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { NotFoundError, UnavailableError } from '../../lib/errors'
import { InferencePool } from '../../lib/inference-pool'
import { ModelManager, explainLoadFailure } from '../../lib/model-manager'
import { describeModel, summarizeModel } from '../../lib/model-metadata'
import { buildFixtureRepository } from '../helpers/fixture-repository'
import {
  ElemType, ML_DOMAIN, DEFAULT_OPSET, type ElemTypeCode, attribute, encodeModel, node, sequenceOfMapsOutput, tensorInput, tensorOutput
} from '../../scripts/onnx-graph'

const NON_TENSOR_FIX = 'sequence and map outputs (such as skl2onnx\'s ZipMap) cannot be returned; ' +
  're-export with skl2onnx options={id(model): {"zipmap": False}} to get a probability tensor'

// One pool and one repository for the file: workers are slow to start under the test runner.
const repository = t.testdir()
buildFixtureRepository(repository)
// Extra cases: a config naming a missing output, and a model whose second version is broken
mkdirSync(join(repository, 'badoutput', '1'), { recursive: true })
copyFileSync(join(repository, 'sum', '1', 'model.onnx'), join(repository, 'badoutput', '1', 'model.onnx'))
writeFileSync(join(repository, 'badoutput', 'config.json'), '{"prediction_output": "probabilities"}')
mkdirSync(join(repository, 'halfbroken', '1'), { recursive: true })
mkdirSync(join(repository, 'halfbroken', '2'), { recursive: true })
copyFileSync(join(repository, 'sum', '1', 'model.onnx'), join(repository, 'halfbroken', '1', 'model.onnx'))
copyFileSync(join(repository, 'broken', '1', 'model.onnx'), join(repository, 'halfbroken', '2', 'model.onnx'))
writeFileSync(join(repository, 'halfbroken', 'config.json'), '{"version_policy": "all"}')
function writeModel (name: string, bytes: Uint8Array): void {
  mkdirSync(join(repository, name, '1'), { recursive: true })
  writeFileSync(join(repository, name, '1', 'model.onnx'), bytes)
}
// Only a ZipMap output: nothing the server can return
writeModel('maponly', encodeModel({
  graphName: 'maponly',
  opsets: [DEFAULT_OPSET, { domain: ML_DOMAIN, version: 1 }],
  inputs: [tensorInput('x', ElemType.FLOAT, ['batch', 2])],
  outputs: [sequenceOfMapsOutput('probabilities')],
  nodes: [node('ZipMap', ['x'], ['probabilities'], [attribute.ints('classlabels_int64s', [0, 1])], ML_DOMAIN)]
}))
// Element types outside what onnx-serve encodes: int4 reaches the model
// manager's check; bfloat16 is refused by onnxruntime-node itself
for (const [name, code] of [['int4', 22], ['bfloat', 16]] as const) {
  writeModel(name, encodeModel({
    graphName: name,
    inputs: [tensorInput('u', code as ElemTypeCode, [1]), tensorInput('x', ElemType.FLOAT, ['batch'])],
    outputs: [tensorOutput('y', ElemType.FLOAT, ['batch'])],
    nodes: [node('Relu', ['x'], ['y'])]
  }))
}
// Loads, but fails on the warm-up's zero-filled feeds: a target shape of [0, 0] for a rank-1 tensor
writeModel('warmup', encodeModel({
  graphName: 'warmup',
  inputs: [tensorInput('x', ElemType.FLOAT, ['batch']), tensorInput('shape', ElemType.INT64, [2])],
  outputs: [tensorOutput('y', ElemType.FLOAT, ['rows', 'columns'])],
  nodes: [node('Reshape', ['x', 'shape'], ['y'])]
}))

const pool = new InferencePool({ workers: 1, threadsPerSession: 1, maxPending: 64, timeoutMs: 10000 })
const manager = new ModelManager(pool, { repository })
t.teardown(() => manager.close())

const shown = relative(process.cwd(), repository)
const allModels = 'badconfig, badoutput, bfloat, broken, empty, halfbroken, int4, maponly, mixed, static, sum, warmup, zipmap'

function caught (fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  return undefined
}

t.test('before loading: nothing ready', async t => {
  t.equal(manager.notReadyReason(), 'models are loading')
  t.same(manager.list(), [])
  t.equal(manager.defaultModel(), undefined)
  const error = caught(() => manager.get('sum'))
  t.type(error, NotFoundError)
  t.match(error, { statusCode: 404, message: "model 'sum' not found; available models: none" })
})

t.test('loadAll: servable models are READY, the others UNAVAILABLE with the fix', async t => {
  await manager.loadAll()
  t.equal(manager.notReadyReason(), undefined)
  t.same(manager.list().map(entry => entry.name), allModels.split(', '), 'listed by name')
  const states = Object.fromEntries(manager.list().map(entry => [entry.name, entry.state]))
  t.same(states, {
    badconfig: 'UNAVAILABLE',
    badoutput: 'UNAVAILABLE',
    bfloat: 'UNAVAILABLE',
    broken: 'UNAVAILABLE',
    empty: 'UNAVAILABLE',
    halfbroken: 'UNAVAILABLE',
    int4: 'UNAVAILABLE',
    maponly: 'UNAVAILABLE',
    mixed: 'READY',
    static: 'READY',
    sum: 'READY',
    warmup: 'UNAVAILABLE',
    zipmap: 'READY'
  })

  const broken = manager.entry('broken')
  t.match(broken.reason, /^version 1: .+\. The file is not a valid ONNX model: re-export it \(torch\.onnx\.export, skl2onnx\.to_onnx\) and check it with onnx\.checker\.check_model$/)
  t.notMatch(broken.reason, repository, 'no absolute server path in a client-visible reason')
  t.same(broken.loaded.size, 0)

  t.equal(manager.entry('badconfig').reason,
    "config.json: unknown key 'colour'; allowed keys: description, labels, max_batch_size, dynamic_batching, cache, version_policy, prediction_output")
  t.equal(manager.entry('empty').reason, `no version found; put the model at ${join(shown, 'empty', '1', 'model.onnx')}`,
    'where to put the file, relative to the working folder')
  t.equal(manager.entry('badoutput').reason,
    "config.json: prediction_output 'probabilities' is not a tensor output of version 1; outputs: y")
  t.match(manager.entry('halfbroken').reason, /^version 2: .+re-export it/)
  t.same(manager.entry('halfbroken').versions, [1, 2])
  t.same(manager.entry('halfbroken').loaded.size, 0, 'no half-loaded model')
  await t.rejects(pool.run('halfbroken/1', { x: { type: 'float32', dims: [1, 3], data: new Float32Array(3) } }, ['y']),
    { message: 'model halfbroken/1 is not loaded in this worker' }, 'the good version was released from the pool')

  t.equal(manager.entry('maponly').reason, `version 1: no tensor output to return; ${NON_TENSOR_FIX}`)
  t.equal(manager.entry('int4').reason,
    "version 1: 'u' has element type int4, which onnx-serve cannot encode; re-export it with float32, float64, an integer type, bool or string")
  t.match(manager.entry('bfloat').reason, /^version 1: Unsupported data type: 16\./)
  t.notMatch(manager.entry('bfloat').reason, /complete ONNX model/, 'the fix for an unsupported type is another type, not a new file', {
    todo: 'explainLoadFailure does not recognise "Unsupported data type" and suggests the file is incomplete'
  })
  t.match(manager.entry('warmup').reason, /^version 1: the warm-up run failed: .*Reshape/)

  // A version that loaded in the pool but then failed must leave the pool again
  const leaks = { todo: 'ModelManager.loadSource only unloads versions that finished loading: one that fails in describe() or its warm-up stays in every worker (and is reloaded by replacement workers)' }
  const feeds = { x: { type: 'float32' as const, dims: [1, 3], data: new Float32Array(3) } }
  await t.rejects(pool.run('badoutput/1', feeds, ['y']), { message: 'model badoutput/1 is not loaded in this worker' }, leaks)
  await t.rejects(pool.run('warmup/1', { x: { type: 'float32', dims: [1], data: new Float32Array(1) }, shape: { type: 'int64', dims: [2], data: BigInt64Array.from([1n, 1n]) } }, ['y']),
    { message: 'model warmup/1 is not loaded in this worker' }, leaks)

  const error = caught(() => manager.get('broken'))
  t.type(error, UnavailableError)
  t.match(error, { statusCode: 503, code: 'ONNX_SERVE_UNAVAILABLE', retryAfter: 5 })
  t.match((error as Error).message, /^model 'broken' is unavailable: version 1: .+onnx\.checker\.check_model$/)
})

t.test('zipmap: served through its tensor output, the map output listed as unserved', async t => {
  const zipmap = manager.get('zipmap')
  t.same(zipmap.outputs, [{ name: 'output_label', type: 'int64', shape: [-1] }])
  t.same(zipmap.unservedOutputs, [{ name: 'output_probability', reason: NON_TENSOR_FIX }])
  t.equal(zipmap.predictionOutput, 'output_label')
  const { outputs } = await manager.run(zipmap, { float_input: { type: 'float32', dims: [2, 2], data: Float32Array.from([2, 0, 0, 3]) } })
  t.same(Object.keys(outputs), ['output_label'], 'runs fetch only tensor outputs')
  t.same(Array.from(outputs.output_label.data as BigInt64Array), [0n, 1n])
})

t.test('get: newest served version by default, a given one, or 404', async t => {
  const sum = manager.get('sum')
  t.equal(sum.version, 2)
  t.equal(sum.key, 'sum/2')
  t.same(sum.inputs, [{ name: 'x', type: 'float32', shape: [-1, 3] }])
  t.same(sum.outputs, [{ name: 'y', type: 'float32', shape: [-1, 1] }])
  t.same(sum.dimNames, { x: ['batch', null], y: ['batch', null] })
  t.equal(sum.predictionOutput, 'y')
  t.same(sum.unservedOutputs, [])
  t.equal(manager.get('sum', 2), sum)
  const { outputs, ms } = await manager.run(sum, { x: { type: 'float32', dims: [1, 3], data: Float32Array.from([1, 2, 3]) } })
  t.same(Array.from(outputs.y.data as Float32Array), [12], 'version 2 doubles the sum')
  t.ok(typeof ms === 'number' && ms >= 0, 'reports the time spent')

  let error = caught(() => manager.get('sum', 1))
  t.type(error, NotFoundError)
  t.match(error, { statusCode: 404, message: "model 'sum' has no served version 1; served versions: 2" }, "the 'latest' policy serves only version 2")
  error = caught(() => manager.get('sum', 7))
  t.match(error, { statusCode: 404, message: "model 'sum' has no served version 7; served versions: 2" })
  error = caught(() => manager.get('nope'))
  t.type(error, NotFoundError)
  t.match(error, { statusCode: 404, code: 'ONNX_SERVE_NOT_FOUND', message: `model 'nope' not found; available models: ${allModels}` })

  t.same(manager.get('static').inputs, [{ name: 'x', type: 'float32', shape: [2, 2] }])
  t.same(manager.get('mixed').inputs.map(input => `${input.name}:${input.type}${JSON.stringify(input.shape)}`),
    ['a:float64[-1,2]', 'b:int64[-1,1]', 'c:int32[-1]', 'flag:bool[-1,1]'])
  t.same(manager.get('mixed').config, { max_batch_size: 8 })
})

t.test('defaultModel', async t => {
  t.equal(new ModelManager(pool, { repository, defaultModel: 'sum' }).defaultModel(), 'sum', 'DEFAULT_MODEL wins')
  t.equal(manager.defaultModel(), 'mixed', 'without DEFAULT_MODEL, the first servable model by name', {
    todo: 'defaultModel() returns the first model by name even when it cannot be served (here badconfig)'
  })
})

t.test('model metadata for the HTTP APIs', async t => {
  t.strictSame(summarizeModel(manager.entry('sum')), {
    name: 'sum', state: 'READY', reason: undefined, versions: [1, 2], served_versions: [2], default_version: 2, description: undefined
  })
  t.strictSame(summarizeModel(manager.entry('empty')), {
    name: 'empty', state: 'UNAVAILABLE', reason: manager.entry('empty').reason, versions: [], served_versions: [], default_version: undefined, description: undefined
  })
  const zipmap = describeModel(manager.entry('zipmap'), manager.get('zipmap'))
  t.same(zipmap.outputs, [{ name: 'output_label', datatype: 'int64', shape: [-1], dim_names: ['batch'] }])
  t.same(zipmap.unserved_outputs, [{ name: 'output_probability', reason: NON_TENSOR_FIX }])
  t.equal(zipmap.prediction_output, 'output_label')
  const fixed = describeModel(manager.entry('static'), manager.get('static'))
  t.same(fixed.inputs, [{ name: 'x', datatype: 'float32', shape: [2, 2], dim_names: undefined }], 'no names for fixed dimensions')
  t.same(fixed.config, { max_batch_size: 0 })
})

t.test('load: reloading one model from the repository', async t => {
  writeFileSync(join(repository, 'sum', 'config.json'), '{"version_policy": "all", "description": "two versions"}')
  const entry = await manager.load('sum')
  t.equal(entry.state, 'READY')
  t.same([...entry.loaded.keys()], [1, 2])
  t.equal(manager.entry('sum'), entry)
  t.equal(manager.get('sum').version, 2, 'still the newest by default')
  const one = manager.get('sum', 1)
  t.equal(one.key, 'sum/1')
  t.equal(one.config.description, 'two versions')
  const { outputs } = await manager.run(one, { x: { type: 'float32', dims: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) } })
  t.same(Array.from(outputs.y.data as Float32Array), [6, 15], 'version 1 sums')

  // Back to one version: the other must leave the pool too
  writeFileSync(join(repository, 'sum', 'config.json'), '{"version_policy": [1]}')
  await manager.load('sum')
  t.same([...manager.entry('sum').loaded.keys()], [1])
  t.equal(manager.get('sum').version, 1)
  await t.rejects(pool.run('sum/2', { x: { type: 'float32', dims: [1, 3], data: new Float32Array(3) } }, ['y']),
    { message: 'model sum/2 is not loaded in this worker' },
    { todo: 'ModelManager.load() does not unload versions it no longer serves: their sessions stay in every worker' })

  writeFileSync(join(repository, 'sum', 'config.json'), '{"colour": "red"}')
  const failed = await manager.load('sum')
  t.equal(failed.state, 'UNAVAILABLE')
  t.match(failed.reason, /unknown key 'colour'/)
  t.equal(manager.notReadyReason(), undefined, 'other models still serve')
})

t.test('explainLoadFailure names the fix for each kind of failure', async t => {
  t.equal(explainLoadFailure('Load model from x failed:Protobuf parsing failed.'),
    'Load model from x failed:Protobuf parsing failed.. The file is not a valid ONNX model: re-export it (torch.onnx.export, skl2onnx.to_onnx) and check it with onnx.checker.check_model')
  t.match(explainLoadFailure('Unsupported model IR version: 11, max supported IR version: 10'), /Re-export with an opset and IR version that onnxruntime-node 1\.30 supports$/)
  t.match(explainLoadFailure('Could not find an implementation for Foo(1) node with name \'\''), /uses an operator or type the CPU runtime lacks/)
  t.match(explainLoadFailure('something else'), /^something else\. Check that the file is a complete ONNX model that onnxruntime can open$/)
})
