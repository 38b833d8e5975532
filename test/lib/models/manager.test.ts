import t from 'tap'
import { caught } from '../../helpers/caught'
import { copyFileSync, mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { NotFoundError, UnavailableError } from '../../../lib/errors'
import { InferencePool } from '../../../lib/runtime/inference-pool'
import { explainLoadFailure } from '../../../lib/models/loader'
import { ModelManager } from '../../../lib/models/manager'
import { modelList, modelMetadata } from '../../../lib/protocols/rest/metadata'
import { buildFixtureRepository } from '../../helpers/fixture-repository'
import type { TensorMap } from '../../../lib/tensors/tensor'
import {
  ElemType, ML_DOMAIN, DEFAULT_OPSET, type ElemTypeCode, attribute, encodeModel, floatInitializer, node, sequenceOfMapsOutput, tensorInput, tensorOutput
} from '../../../scripts/onnx-graph'

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
// The newest version broken, under the default policy (latest): the one before serves
for (const [version, from] of [['1', 'sum'], ['2', 'broken'], ['3', 'broken']]) {
  mkdirSync(join(repository, 'newbroken', version), { recursive: true })
  copyFileSync(join(repository, from, '1', 'model.onnx'), join(repository, 'newbroken', version, 'model.onnx'))
}
// The newest two (Triton's latest { num_versions: 2 }), the newest of three broken
for (const [version, from] of [['1', 'sum'], ['2', 'sum'], ['3', 'broken']]) {
  mkdirSync(join(repository, 'twolatest', version), { recursive: true })
  copyFileSync(join(repository, from, '1', 'model.onnx'), join(repository, 'twolatest', version, 'model.onnx'))
}
writeFileSync(join(repository, 'twolatest', 'config.json'), '{"version_policy": {"latest": 2}}')
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
// No inputs at all: a constant, nothing to predict from
writeModel('noinputs', encodeModel({
  graphName: 'noinputs',
  inputs: [],
  outputs: [tensorOutput('y', ElemType.FLOAT, [1])],
  initializers: [floatInitializer('c', [1], [1])],
  nodes: [node('Identity', ['c'], ['y'])]
}))
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

const allModels = 'badconfig, badoutput, bfloat, broken, empty, halfbroken, int4, maponly, mixed, newbroken, noinputs, static, sum, twolatest, warmup, zipmap'

t.test('before loading: nothing ready', async t => {
  t.equal(manager.registry.notReadyReason(), 'models are loading')
  t.same(manager.registry.list(), [])
  t.equal(manager.registry.defaultModel(), undefined)
  const error = caught(() => manager.registry.get('sum'))
  t.type(error, NotFoundError)
  t.match(error, { statusCode: 404, message: "model 'sum' not found; available models: none" })
})

t.test('loadAll: servable models are READY, the others UNAVAILABLE with the fix', async t => {
  await manager.loadAll()
  t.equal(manager.registry.notReadyReason(), undefined)
  t.same(manager.registry.list().map(entry => entry.name), allModels.split(', '), 'listed by name')
  const states = Object.fromEntries(manager.registry.list().map(entry => [entry.name, entry.state]))
  t.same(states, {
    badconfig: 'UNAVAILABLE',
    badoutput: 'UNAVAILABLE',
    bfloat: 'UNAVAILABLE',
    broken: 'UNAVAILABLE',
    empty: 'UNAVAILABLE',
    halfbroken: 'READY',
    int4: 'UNAVAILABLE',
    maponly: 'UNAVAILABLE',
    mixed: 'READY',
    newbroken: 'READY',
    noinputs: 'UNAVAILABLE',
    static: 'READY',
    sum: 'READY',
    twolatest: 'READY',
    warmup: 'UNAVAILABLE',
    zipmap: 'READY'
  })

  const broken = manager.registry.entry('broken')
  t.match(broken.reason, /^version 1: .+\. The file is not a valid ONNX model: re-export it \(torch\.onnx\.export, skl2onnx\.to_onnx\) and check it with onnx\.checker\.check_model$/)
  t.match(broken.reason, /^version 1: Load model from broken\/1\/model\.onnx failed:/, 'the file named relative to the repository')
  t.notMatch(broken.reason, repository, 'no absolute server path in a client-visible reason')
  t.same(broken.loaded.size, 0)

  t.equal(manager.registry.entry('badconfig').reason,
    "config.json: unknown key 'colour'; allowed keys: description, labels, max_batch_size, dynamic_batching, version_policy, cache, prediction_output, placement, warmup")
  t.equal(manager.registry.entry('empty').reason, 'no version found; put the model at empty/1/model.onnx',
    'where to put the file, relative to the repository')
  t.equal(manager.registry.entry('badoutput').reason,
    "config.json: prediction_output 'probabilities' is not a tensor output of version 1; outputs: y")
  // A broken version never takes the versions that load down with it.
  const halfbroken = manager.registry.entry('halfbroken')
  t.same(halfbroken.versions, [1, 2])
  t.same([...halfbroken.loaded.keys()], [1], 'version_policy all: the version that loads serves')
  t.match(halfbroken.failed?.get(2), /^version 2: .+re-export it/, 'the broken one, with its reason')
  t.equal(manager.registry.get('halfbroken').version, 1, 'a request without a version gets it')
  const newbroken = manager.registry.entry('newbroken')
  t.same([...newbroken.loaded.keys()], [1], 'latest: the newest version that loads serves, however many newer ones are broken')
  t.same([...newbroken.failed?.keys() ?? []], [3, 2])
  const twolatest = manager.registry.entry('twolatest')
  t.same([...twolatest.loaded.keys()].sort(), [1, 2], 'latest 2: the two newest that load')
  t.same([...twolatest.failed?.keys() ?? []], [3])
  const rows = (await manager.repositoryIndex()).filter(row => row.name === 'newbroken')
  t.match(rows, [
    { version: '1', state: 'READY', reason: '' },
    { version: '2', state: 'UNAVAILABLE', reason: /^version 2: Load model from newbroken\/2\/model\.onnx failed:/ },
    { version: '3', state: 'UNAVAILABLE', reason: /^version 3: / }
  ], 'the index says which version serves and why the others do not')

  t.equal(manager.registry.entry('maponly').reason, `version 1: no tensor output to return; ${NON_TENSOR_FIX}`)
  t.equal(manager.registry.entry('int4').reason,
    "version 1: 'u' has element type int4, which onnx-serve cannot encode; re-export it with float32, float64, an integer type, bool or string")
  t.equal(manager.registry.entry('bfloat').reason,
    'version 1: Unsupported data type: 16. The model uses an element type that onnxruntime-node cannot exchange with JavaScript (bfloat16, float8, int4): ' +
    're-export it with float32, float16 or another supported type at its inputs and outputs',
    'the fix for an unsupported type is another type, not a new file')
  t.match(manager.registry.entry('warmup').reason, /^version 1: the warm-up run failed: .*Reshape/)
  t.equal(manager.registry.entry('noinputs').reason, 'version 1: the model has no inputs, so there is nothing to predict from')
  t.same(manager.registry.entry('noinputs').loaded.size, 0)

  // A version that loaded in the pool but then failed (in describe or its warm-up) must leave the pool again
  const feeds = { x: { type: 'float32' as const, dims: [1, 3], data: new Float32Array(3) } }
  await t.rejects(pool.run('badoutput/1', feeds, ['y']), { message: 'model badoutput/1 is not loaded in this worker' }, 'released after describe() refused it')
  await t.rejects(pool.run('warmup/1', { x: { type: 'float32', dims: [1], data: new Float32Array(1) }, shape: { type: 'int64', dims: [2], data: BigInt64Array.from([1n, 1n]) } }, ['y']),
    { message: 'model warmup/1 is not loaded in this worker' }, 'released after its warm-up failed')
  await t.rejects(pool.run('noinputs/1', {}, ['y']), { message: 'model noinputs/1 is not loaded in this worker' }, 'released after describe() found no inputs')
  await t.rejects(pool.run('int4/1', { x: { type: 'float32', dims: [1], data: new Float32Array(1) } }, ['y']),
    { message: 'model int4/1 is not loaded in this worker' }, 'released after describe() refused its element type')

  const error = caught(() => manager.registry.get('broken'))
  t.type(error, UnavailableError)
  t.match(error, { statusCode: 503, code: 'ONNX_SERVE_UNAVAILABLE', retryAfter: 5 })
  t.match((error as Error).message, /^model 'broken' is unavailable: version 1: .+onnx\.checker\.check_model$/)
})

t.test('zipmap: served through its tensor output, the map output listed as unserved', async t => {
  const zipmap = manager.registry.get('zipmap')
  t.same(zipmap.outputs, [{ name: 'output_label', type: 'int64', shape: [-1] }])
  t.same(zipmap.unservedOutputs, [{ name: 'output_probability', reason: NON_TENSOR_FIX }])
  t.equal(zipmap.predictionOutput, 'output_label')
  const outputs = await manager.run(zipmap, { float_input: { type: 'float32', dims: [2, 2], data: Float32Array.from([2, 0, 0, 3]) } })
  t.same(Object.keys(outputs), ['output_label'], 'runs fetch only tensor outputs')
  t.same(Array.from(outputs.output_label.data as BigInt64Array), [0n, 1n])
})

t.test('get: newest served version by default, a given one, or 404', async t => {
  const sum = manager.registry.get('sum')
  t.equal(sum.version, 2)
  t.match(sum.key, /^sum\/2#\d+$/, 'a session key per load')
  t.same(sum.inputs, [{ name: 'x', type: 'float32', shape: [-1, 3] }])
  t.same(sum.outputs, [{ name: 'y', type: 'float32', shape: [-1, 1] }])
  t.same(sum.dimNames, { x: ['batch', null], y: ['batch', null] })
  t.equal(sum.predictionOutput, 'y')
  t.same(sum.unservedOutputs, [])
  t.equal(manager.registry.get('sum', 2), sum)
  const outputs = await manager.run(sum, { x: { type: 'float32', dims: [1, 3], data: Float32Array.from([1, 2, 3]) } })
  t.same(Array.from(outputs.y.data as Float32Array), [12], 'version 2 doubles the sum')

  let error = caught(() => manager.registry.get('sum', 1))
  t.type(error, NotFoundError)
  t.match(error, { statusCode: 404, message: "model 'sum' has no served version 1; served versions: 2" }, "the 'latest' policy serves only version 2")
  error = caught(() => manager.registry.get('sum', 7))
  t.match(error, { statusCode: 404, message: "model 'sum' has no served version 7; served versions: 2" })
  error = caught(() => manager.registry.get('nope'))
  t.type(error, NotFoundError)
  t.match(error, { statusCode: 404, code: 'ONNX_SERVE_NOT_FOUND', message: `model 'nope' not found; available models: ${allModels}` })

  t.same(manager.registry.get('static').inputs, [{ name: 'x', type: 'float32', shape: [2, 2] }])
  t.same(manager.registry.get('mixed').inputs.map(input => `${input.name}:${input.type}${JSON.stringify(input.shape)}`),
    ['a:float64[-1,2]', 'b:int64[-1,1]', 'c:int32[-1]', 'flag:bool[-1,1]'])
  t.same(manager.registry.get('mixed').config, { max_batch_size: 8 })
})

t.test('defaultModel', async t => {
  t.equal(new ModelManager(pool, { repository, defaultModel: 'sum' }).registry.defaultModel(), 'sum', 'DEFAULT_MODEL wins')
  t.equal(manager.registry.defaultModel(), 'halfbroken', 'without DEFAULT_MODEL, the first servable model by name (badconfig, the first by name, cannot serve; halfbroken serves its version 1)')
})

t.test('model metadata for the HTTP APIs', async t => {
  t.strictSame(modelList({ entries: [manager.registry.entry('sum')] }).models[0], {
    name: 'sum', state: 'READY', reason: undefined, versions: [1, 2], served_versions: [2], failed_versions: undefined, default_version: 2, description: undefined
  })
  t.strictSame(modelList({ entries: [manager.registry.entry('empty')] }).models[0], {
    name: 'empty', state: 'UNAVAILABLE', reason: manager.registry.entry('empty').reason, versions: [], served_versions: [], failed_versions: undefined, default_version: undefined, description: undefined
  })
  const zipmap = modelMetadata({ entry: manager.registry.entry('zipmap'), model: manager.registry.get('zipmap') })
  t.same(zipmap.outputs, [{ name: 'output_label', datatype: 'int64', shape: [-1], dim_names: ['batch'] }])
  t.same(zipmap.unserved_outputs, [{ name: 'output_probability', reason: NON_TENSOR_FIX }])
  t.equal(zipmap.prediction_output, 'output_label')
  const fixed = modelMetadata({ entry: manager.registry.entry('static'), model: manager.registry.get('static') })
  t.same(fixed.inputs, [{ name: 'x', datatype: 'float32', shape: [2, 2], dim_names: undefined }], 'no names for fixed dimensions')
  t.same(fixed.config, { max_batch_size: 0 })
})

t.test('load: reloading one model from the repository', async t => {
  writeFileSync(join(repository, 'sum', 'config.json'), '{"version_policy": "all", "description": "two versions"}')
  const entry = await manager.load('sum')
  t.equal(entry.state, 'READY')
  t.same([...entry.loaded.keys()], [1, 2])
  t.equal(manager.registry.entry('sum'), entry)
  t.equal(manager.registry.get('sum').version, 2, 'still the newest by default')
  const one = manager.registry.get('sum', 1)
  t.match(one.key, /^sum\/1#\d+$/)
  t.equal(one.config.description, 'two versions')
  const outputs = await manager.run(one, { x: { type: 'float32', dims: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) } })
  t.same(Array.from(outputs.y.data as Float32Array), [6, 15], 'version 1 sums')

  // Back to one version: the other must leave the pool too
  writeFileSync(join(repository, 'sum', 'config.json'), '{"version_policy": [1]}')
  await manager.load('sum')
  t.same([...manager.registry.entry('sum').loaded.keys()], [1])
  t.equal(manager.registry.get('sum').version, 1)
  await t.rejects(pool.run('sum/2', { x: { type: 'float32', dims: [1, 3], data: new Float32Array(3) } }, ['y']),
    { message: 'model sum/2 is not loaded in this worker' }, 'the version no longer served left the pool')

  writeFileSync(join(repository, 'sum', 'config.json'), '{"colour": "red"}')
  // A reload that can serve nothing: the versions that served serve on, the failure beside them.
  const failed = await manager.load('sum')
  t.equal(failed.state, 'READY', 'availability first')
  t.match(failed.reason, /unknown key 'colour'/, 'with why the reload failed')
  t.equal(manager.registry.get('sum').version, 1, 'version 1 still serves')
  const key = manager.registry.get('sum').key
  t.ok(await pool.run(key, { x: { type: 'float32', dims: [1, 3], data: new Float32Array(3) } }, ['y']), 'its session still runs')
  writeFileSync(join(repository, 'sum', 'config.json'), '{"version_policy": [1]}')
  t.equal((await manager.load('sum')).reason, undefined, 'a good reload clears the failure')
})

t.test('explainLoadFailure names the fix for each kind of failure', async t => {
  t.equal(explainLoadFailure('Load model from x failed:Protobuf parsing failed.'),
    'Load model from x failed:Protobuf parsing failed. The file is not a valid ONNX model: re-export it (torch.onnx.export, skl2onnx.to_onnx) and check it with onnx.checker.check_model',
    'the runtime\'s trailing dot is not doubled')
  t.equal(explainLoadFailure('  Load model from x failed:Protobuf parsing failed...\n'),
    'Load model from x failed:Protobuf parsing failed. The file is not a valid ONNX model: re-export it (torch.onnx.export, skl2onnx.to_onnx) and check it with onnx.checker.check_model',
    'trailing dots and spaces trimmed')
  const typeFix = '. The model uses an element type that onnxruntime-node cannot exchange with JavaScript (bfloat16, float8, int4): ' +
    're-export it with float32, float16 or another supported type at its inputs and outputs'
  for (const failure of ['Unsupported data type: 16', 'Tensor type bfloat16 is not supported.', 'unsupported element type float8e4m3fn', 'input u has type int4']) {
    t.equal(explainLoadFailure(failure), `${failure.replace(/\.$/, '')}${typeFix}`, `an element type problem: ${failure}`)
  }
  t.match(explainLoadFailure('Unsupported model IR version: 11, max supported IR version: 10'), /Re-export with an opset and IR version that onnxruntime-node 1\.30 supports$/)
  t.match(explainLoadFailure('Could not find an implementation for Foo(1) node with name \'\''), /uses an operator or type the CPU runtime lacks/)
  t.match(explainLoadFailure('something else'), /^something else\. Check that the file is a complete ONNX model that onnxruntime can open$/)
})

// More repositories over the same pool; their model names are their own, as the pool's keys are name/version.
/** A repository of version-1 models at `root`; null makes a model folder with no version. */
function otherRepository (root: string, models: Record<string, Uint8Array | string | null>): string {
  for (const [name, bytes] of Object.entries(models)) {
    mkdirSync(join(root, name, bytes === null ? '' : '1'), { recursive: true })
    if (bytes !== null) writeFileSync(join(root, name, '1', 'model.onnx'), bytes)
  }
  return root
}

const brokenBytes = 'this is not an onnx model'
function reluBytes (width: number): Uint8Array {
  return encodeModel({
    graphName: `relu${width}`,
    inputs: [tensorInput('x', ElemType.FLOAT, ['batch', width])],
    outputs: [tensorOutput('y', ElemType.FLOAT, ['batch', width])],
    nodes: [node('Relu', ['x'], ['y'])]
  })
}

t.test('defaultModel skips a first model that cannot serve; notReadyReason checks DEFAULT_MODEL', async t => {
  const root = otherRepository(t.testdir(), { 'dm-a-broken': brokenBytes, 'dm-b-relu': reluBytes(2), 'dm-c-relu': reluBytes(2) })

  const plain = new ModelManager(pool, { repository: root })
  await plain.loadAll()
  t.equal(plain.registry.entry('dm-a-broken').state, 'UNAVAILABLE')
  t.equal(plain.registry.defaultModel(), 'dm-b-relu', 'the first READY model by name, not the broken first one')
  t.equal(plain.registry.notReadyReason(), undefined, 'a broken model does not hold back the others')

  const missing = new ModelManager(pool, { repository: root, defaultModel: 'nope' })
  await missing.loadAll()
  t.equal(missing.registry.defaultModel(), 'nope', 'DEFAULT_MODEL is the default even when missing')
  t.equal(missing.registry.notReadyReason(), "DEFAULT_MODEL 'nope' is not in the repository")

  const broken = new ModelManager(pool, { repository: root, defaultModel: 'dm-a-broken' })
  await broken.loadAll()
  const reason = broken.registry.entry('dm-a-broken').reason
  t.match(reason, /^version 1: Load model from dm-a-broken\/1\/model\.onnx failed:Protobuf parsing failed\. The file is not a valid ONNX model: /)
  t.equal(broken.registry.notReadyReason(), `DEFAULT_MODEL 'dm-a-broken' is unavailable: ${reason}`)

  const serving = new ModelManager(pool, { repository: root, defaultModel: 'dm-c-relu' })
  await serving.loadAll()
  t.equal(serving.registry.notReadyReason(), undefined, 'ready when DEFAULT_MODEL serves')
  t.equal(serving.registry.defaultModel(), 'dm-c-relu')
})

t.test('notReadyReason: no model could be loaded, an empty and a missing repository', async t => {
  // t.testdir() is one folder per test, emptied at each call: the three repositories live side by side in it
  const root = t.testdir({ failing: {}, empty: {} })
  const failing = new ModelManager(pool, { repository: otherRepository(join(root, 'failing'), { 'nr-b-broken': brokenBytes, 'nr-a-empty': null }) })
  await failing.loadAll()
  t.same(failing.registry.list().map(entry => entry.state), ['UNAVAILABLE', 'UNAVAILABLE'])
  t.equal(failing.registry.notReadyReason(), 'no model could be loaded; GET /v1/models gives each reason')
  t.equal(failing.registry.defaultModel(), 'nr-a-empty', 'with none READY, the first by name')

  const emptyRoot = join(root, 'empty')
  const empty = new ModelManager(pool, { repository: emptyRoot })
  await empty.loadAll()
  t.equal(empty.registry.notReadyReason(), 'the model repository holds no model; put one at <name>/1/model.onnx in MODEL_REPOSITORY (the server log names the folder)',
    'what to do, without the path (which the log has)')
  t.equal(empty.registry.defaultModel(), undefined)

  const missingRoot = join(root, 'missing')
  const missing = new ModelManager(pool, { repository: missingRoot })
  await t.rejects(missing.loadAll(), { code: 'ENOENT' })
  t.equal(missing.registry.notReadyReason(), 'cannot read the model repository: ENOENT: no such file or directory; make MODEL_REPOSITORY a readable folder (the server log names the folder)',
    'the error without the path (which the log has)')
  t.same(missing.registry.list(), [])
  t.equal(missing.registry.defaultModel(), undefined)
  const withDefault = new ModelManager(pool, { repository: missingRoot, defaultModel: 'iris' })
  await t.rejects(withDefault.loadAll())
  t.match(withDefault.registry.notReadyReason(), /^cannot read the model repository: /, 'the repository error comes before DEFAULT_MODEL')
})

t.test('a runtime failure naming other files of the repository, or the repository itself, shows them relative to it', async t => {
  const root = otherRepository(t.testdir(), { 'pt-relu': reluBytes(2) })
  const paths = new ModelManager(pool, { repository: root })
  const realLoad = pool.load.bind(pool)
  t.teardown(() => { pool.load = realLoad })
  pool.load = async (_key, path) => {
    throw new Error(`Load model from ${path} failed: external data file ${join(dirname(path), 'weights.bin')} not found under ${root}`)
  }
  await paths.loadAll()
  t.equal(paths.registry.entry('pt-relu').reason,
    'version 1: Load model from pt-relu/1/model.onnx failed: external data file pt-relu/1/weights.bin not found under the model repository. ' +
    'Check that the file is a complete ONNX model that onnxruntime can open')
})

t.test('a runtime failure naming the real path of a model or version folder linked from outside shows it inside the repository', async t => {
  const root = t.testdir({ models: { 'linked-version': {} }, elsewhere: {} })
  const models = join(root, 'models')
  mkdirSync(join(root, 'elsewhere', 'linked-model', '1'), { recursive: true })
  writeFileSync(join(root, 'elsewhere', 'linked-model', '1', 'model.onnx'), reluBytes(2))
  symlinkSync(join(root, 'elsewhere', 'linked-model'), join(models, 'linked-model'), 'dir')
  mkdirSync(join(root, 'elsewhere', 'v1'))
  writeFileSync(join(root, 'elsewhere', 'v1', 'model.onnx'), reluBytes(2))
  symlinkSync(join(root, 'elsewhere', 'v1'), join(models, 'linked-version', '1'), 'dir')
  const linked = new ModelManager(pool, { repository: models })
  const realLoad = pool.load.bind(pool)
  t.teardown(() => { pool.load = realLoad })
  pool.load = async (_key, path) => {
    throw new Error(`external data file ${join(realpathSync(dirname(path)), 'weights.bin')} is outside ${realpathSync(dirname(dirname(path)))}`)
  }
  await linked.loadAll()
  t.equal(linked.registry.entry('linked-model').reason?.split('. Check')[0],
    'version 1: external data file linked-model/1/weights.bin is outside linked-model')
  t.equal(linked.registry.entry('linked-version').reason?.split('. Check')[0],
    'version 1: external data file linked-version/1/weights.bin is outside linked-version')
})

t.test('symlinked model and version folders are followed and served', async t => {
  const root = t.testdir({ models: {}, elsewhere: {} })
  const models = join(root, 'models')
  mkdirSync(join(root, 'elsewhere', 'linked-model', '1'), { recursive: true })
  writeFileSync(join(root, 'elsewhere', 'linked-model', '1', 'model.onnx'), reluBytes(2))
  symlinkSync(join(root, 'elsewhere', 'linked-model'), join(models, 'linked-model'), 'dir')
  mkdirSync(join(root, 'elsewhere', 'v2'))
  writeFileSync(join(root, 'elsewhere', 'v2', 'model.onnx'), reluBytes(3))
  mkdirSync(join(models, 'linked-version', '1'), { recursive: true })
  writeFileSync(join(models, 'linked-version', '1', 'model.onnx'), reluBytes(2))
  symlinkSync(join(root, 'elsewhere', 'v2'), join(models, 'linked-version', '2'), 'dir')

  const linked = new ModelManager(pool, { repository: models })
  await linked.loadAll()
  t.same(linked.registry.list().map(entry => [entry.name, entry.state, entry.versions]), [
    ['linked-model', 'READY', [1]],
    ['linked-version', 'READY', [1, 2]]
  ])
  const outputs = await linked.run(linked.registry.get('linked-version'), { x: { type: 'float32', dims: [1, 3], data: Float32Array.from([-1, 2, -3]) } })
  t.same(Array.from(outputs.y.data as Float32Array), [0, 2, 0], 'the linked version 2 serves')
  t.same(linked.registry.get('linked-model').inputs, [{ name: 'x', type: 'float32', shape: [-1, 2] }])
})

t.test('a model being reloaded keeps serving its old sessions until the new ones are ready', async t => {
  const root = otherRepository(t.testdir(), { 'rl-relu': reluBytes(3) })
  const reloading = new ModelManager(pool, { repository: root })
  await reloading.loadAll()
  const old = reloading.registry.get('rl-relu')
  writeFileSync(join(root, 'rl-relu', '1', 'model.onnx'), reluBytes(2))

  // Between the new session's load and its warm-up, the old version still answers requests
  const realLoad = pool.load.bind(pool)
  t.teardown(() => { pool.load = realLoad })
  let during: { state: string, served: unknown, run: unknown } | undefined
  pool.load = async (key, path) => {
    const metadata = await realLoad(key, path)
    pool.load = realLoad
    const model = reloading.registry.get('rl-relu')
    during = {
      state: reloading.registry.entry('rl-relu').state,
      served: model === old,
      run: await reloading.run(model, { x: { type: 'float32', dims: [1, 3], data: Float32Array.from([-1, 2, -3]) } })
        .then(result => Array.from(result.y.data as Float32Array), (error: Error) => error.message)
    }
    return metadata
  }
  const entry = await reloading.load('rl-relu')
  t.equal(during?.state, 'READY', 'still READY while reloading')
  t.equal(during?.served, true, 'the old version is what get() returns meanwhile')
  t.same(during?.run, [0, 2, 0], 'a request checked against the old version runs on the old session')
  t.equal(entry.state, 'READY')
  t.same(reloading.registry.get('rl-relu').inputs, [{ name: 'x', type: 'float32', shape: [-1, 2] }], 'then the new version serves')
})

t.test('unbatched: the requests of one turn each run alone with their own answer; the wait for the end of the turn counts as their queue', async t => {
  const model = manager.registry.get('sum')
  t.equal(model.batcher, undefined, 'no dynamic batching')
  const before = structuredClone(model.statistics.data)
  const row = (n: number): TensorMap => ({ x: { type: 'float32', dims: [1, 3], data: Float32Array.of(n, n, n) } })
  // The first turn's two requests make the turn group gather; the second turn's three are gathered.
  for (const turn of [[1, 2], [3, 4, 5]]) {
    const answers = await Promise.all(turn.map(async n => await manager.run(model, row(n))))
    t.same(answers.map(outputs => Array.from(outputs.y.data as Float32Array)), turn.map(n => [3 * n]), `turn of ${turn.length}: each its own sum`)
  }
  const after = model.statistics.data
  t.equal(after.executionCount - before.executionCount, 5, 'one run a request')
  t.equal(after.inferenceCount - before.inferenceCount, 5, 'a row each')
  t.equal(after.inference.queue.count - before.inference.queue.count, 5, 'each request counted its queue')
  t.equal(after.inference.compute_infer.count - before.inference.compute_infer.count, 5, 'and its run')
  t.ok(after.inference.compute_infer.ns > before.inference.compute_infer.ns, 'the runs took time')
})
