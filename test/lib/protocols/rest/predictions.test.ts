import t, { type Test } from 'tap'
import { cpSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { InputError } from '../../../../lib/errors'
import { InferencePool } from '../../../../lib/runtime/inference-pool'
import { ModelManager, type ModelVersion } from '../../../../lib/models/manager'
import { DataPlane } from '../../../../lib/data-plane/data-plane'
import type { InferCodec, InferenceLimits, InferenceRecord, RequestFacts } from '../../../../lib/data-plane/infer-codec'
import { predict } from '../../../../lib/protocols/rest/predict'
import { tfServingPredict } from '../../../../lib/protocols/rest/tf-serving'
import type { PredictResponse, TfServingRequest, TfServingResponse } from '../../../../lib/protocols/rest/wire'
import { buildFixtureRepository } from '../../../helpers/fixture-repository'

// The fixture models and the bundled ones side by side, with two iris variants
const repository = t.testdir()
buildFixtureRepository(repository)
const bundled = join(__dirname, '..', '..', '..', '..', 'models')
cpSync(join(bundled, 'iris'), join(repository, 'iris'), { recursive: true })
cpSync(join(bundled, 'iris-petal-width'), join(repository, 'iris-petal-width'), { recursive: true })
for (const [name, config] of Object.entries({
  'iris-short-labels': { labels: ['setosa'], prediction_output: 'label' },
  'iris-probabilities': { labels: ['setosa', 'versicolor', 'virginica'], prediction_output: 'probabilities' }
})) {
  mkdirSync(join(repository, name, '1'), { recursive: true })
  cpSync(join(bundled, 'iris', '1', 'model.onnx'), join(repository, name, '1', 'model.onnx'))
  writeFileSync(join(repository, name, 'config.json'), JSON.stringify(config))
}
// The mixed fixture with class names for its [batch, 1] int64 output
cpSync(join(repository, 'mixed', '1'), join(repository, 'mixed-labelled', '1'), { recursive: true })
writeFileSync(join(repository, 'mixed-labelled', 'config.json'), JSON.stringify({ labels: ['zero', 'one', 'two'], prediction_output: 'b_plus_one' }))

const pool = new InferencePool({ workers: 1, threadsPerSession: 1, maxPending: 64, timeoutMs: 10000 })
const manager = new ModelManager(pool, { repository })
t.teardown(() => manager.close())

const limits: InferenceLimits = { maxRows: 1024, maxElements: 1_000_000 }
const service = (within = limits): DataPlane => new DataPlane(manager, { server: { name: 'test', version: '0' }, limits: within })
/** A codec through the data plane, for the named version: its answer and what the data plane recorded. */
async function framed<Payload, Reply> (codec: InferCodec<Payload, Reply>, plane: DataPlane, model: ModelVersion, payload: Payload): Promise<{ reply: Reply, log: InferenceRecord }> {
  const facts: RequestFacts = {}
  const reply = await plane.infer(codec, { name: model.name, version: model.version }, payload, facts)
  if (facts.inference === undefined) throw new Error('the data plane recorded no inference')
  return { reply, log: facts.inference }
}
const predictOutput = async (plane: DataPlane, model: ModelVersion, inputData: unknown): Promise<{ reply: PredictResponse, log: InferenceRecord }> =>
  await framed(predict, plane, model, { input_data: inputData })
const predictTfServing = async (plane: DataPlane, model: ModelVersion, body: TfServingRequest): Promise<{ reply: TfServingResponse, log: InferenceRecord }> =>
  await framed(tfServingPredict, plane, model, body)
/** The old shape of a /predict result, to keep these checks as they were. */
const predicted = async (reply: ReturnType<typeof predictOutput>) => reply.then(({ reply, log }) => ({ predictions: reply.prediction, rows: log.rows, inferenceMs: log.inferenceMs }))
const predictInstances = async (model: ModelVersion, instances: unknown[], within = limits) =>
  predictTfServing(service(within), model, { instances }).then(({ reply, log }) => ({ predictions: (reply as { predictions: unknown[] }).predictions, rows: log.rows }))
const setosa = [5.1, 3.5, 1.4, 0.2]
const versicolor = [5.9, 3.0, 4.2, 1.5]
const virginica = [6.7, 3.0, 5.2, 2.3]

async function inputError (t: Test, promise: Promise<unknown>): Promise<InputError> {
  const error = await promise.then(() => undefined, (err: unknown) => err)
  t.type(error, InputError)
  t.equal((error as InputError).statusCode, 400)
  return error as InputError
}

t.before(() => manager.loadAll())

t.test('predictOutput maps class indices to the configured labels', async t => {
  const iris = manager.registry.get('iris')
  t.equal(iris.predictionOutput, 'label')
  const one = await predicted(predictOutput(service(), iris, setosa))
  t.same(one.predictions, ['setosa'], 'one row in, one prediction out')
  t.equal(one.rows, 1)
  t.ok(typeof one.inferenceMs === 'number' && one.inferenceMs >= 0)

  const many = await predicted(predictOutput(service(), iris, [setosa, versicolor, virginica]))
  t.same(many.predictions, ['setosa', 'versicolor', 'virginica'])
  t.equal(many.rows, 3)

  t.same((await predicted(predictOutput(service(), iris, { features: virginica }))).predictions, ['virginica'], 'a row keyed by input name')
  t.same((await predicted(predictOutput(service(), iris, [{ features: setosa }, { features: virginica }]))).predictions, ['setosa', 'virginica'])
})

t.test('predictOutput leaves values without a label alone', async t => {
  t.same((await predicted(predictOutput(service(), manager.registry.get('iris-short-labels'), [setosa, virginica]))).predictions, ['setosa', 2],
    'an index beyond the labels stays a number')
  const probabilities = (await predicted(predictOutput(service(), manager.registry.get('iris-probabilities'), [setosa]))).predictions
  t.equal(probabilities.length, 1)
  const [row] = probabilities as number[][]
  t.equal(row.length, 3)
  t.ok(row.every(value => typeof value === 'number'), 'float outputs are never labelled')
  t.ok(row[0] > 0.9)

  const width = await predicted(predictOutput(service(), manager.registry.get('iris-petal-width'), [[5.1, 3.5, 1.4], [6.7, 3.0, 5.2]]))
  t.equal(width.rows, 2)
  const widths = (width.predictions as number[][]).map(value => value[0])
  t.ok(widths[0] > 0 && widths[0] < 0.6, `setosa petal width ${widths[0]}`)
  t.ok(widths[1] > 1.5 && widths[1] < 2.6, `virginica petal width ${widths[1]}`)

  const zipmap = await predicted(predictOutput(service(), manager.registry.get('zipmap'), [[2, 0], [0, 3]]))
  t.same(zipmap.predictions, [0, 1], 'int64 labels without names stay numbers')
  const labelled = await predicted(predictOutput(service(), manager.registry.get('mixed-labelled'), [
    { a: [0, 0], b: [1], c: 0, flag: [true] },
    { a: [0, 0], b: [-1], c: 0, flag: [true] },
    { a: [0, 0], b: [5], c: 0, flag: [true] }
  ]))
  t.same(labelled.predictions, [['two'], ['zero'], [6]], 'labels apply inside nested rows; out of range stays a number')
  const fixed = await predicted(predictOutput(service(), manager.registry.get('static'), [[1, -2], [-3, 4]]))
  t.same(fixed.predictions, [[1, 0], [0, 4]])
})

t.test('row limits: the request limit and the model max_batch_size, with the limit in the message', async t => {
  const iris = manager.registry.get('iris')
  t.equal(iris.config.max_batch_size, 64)
  let error = await inputError(t, predicted(predictOutput(service({ ...limits, maxRows: 2 }), iris, [setosa, setosa, setosa])))
  t.equal(error.message, "input_data: at most 2 rows per request for model 'iris', received 3")
  t.equal(error.field, 'input_data')
  t.equal((await predicted(predictOutput(service({ ...limits, maxRows: 2 }), iris, [setosa, setosa]))).rows, 2, 'exactly at the limit')

  error = await inputError(t, predicted(predictOutput(service(), iris, Array(65).fill(setosa))))
  t.equal(error.message, "input_data: at most 64 rows per request for model 'iris', received 65", 'the model limit when lower')
  t.equal((await predicted(predictOutput(service(), iris, Array(64).fill(setosa)))).predictions.length, 64)

  error = await inputError(t, predictInstances(manager.registry.get('mixed'), Array(9).fill({ a: [1, 2], b: [1], c: 1, flag: [true] })))
  t.equal(error.message, "instances: at most 8 rows per request for model 'mixed', received 9")
  t.equal(error.field, 'instances')

  // max_batch_size 0 sets no model limit: only the request limit applies
  const fixed = manager.registry.get('static')
  t.equal(fixed.config.max_batch_size, 0)
  error = await inputError(t, predicted(predictOutput(service({ ...limits, maxRows: 1 }), fixed, [[1, 2], [3, 4]])))
  t.equal(error.message, "input_data: at most 1 row per request for model 'static', received 2")

  error = await inputError(t, predicted(predictOutput(service({ maxRows: 1024, maxElements: 15 }), iris, Array(4).fill(setosa))))
  t.equal(error.message, 'input_data[3][3]: expected at most 15 tensor elements in all inputs (MAX_TENSOR_ELEMENTS), received more', 'decode limits are passed on')
  t.equal(pool.pending, 0, 'refused requests never reach the pool')
})

t.test('predictInstances with several inputs and outputs', async t => {
  const mixed = manager.registry.get('mixed')
  const result = await predictInstances(mixed, [
    { a: [0.5, 0.25], b: [10], c: 7, flag: [true] },
    { a: [1, 2], b: ['-3'], c: -8, flag: [false] },
    { a: [0, 0], b: ['9007199254740993'], c: 0, flag: [true] }
  ])
  t.equal(result.rows, 3)
  t.strictSame(result.predictions, [
    { total: [10.75], b_plus_one: [11], c_neg: -7, not_flag: [false] },
    { total: [0], b_plus_one: [-2], c_neg: 8, not_flag: [true] },
    { total: [9007199254740992], b_plus_one: ['9007199254740994'], c_neg: 0, not_flag: [false] }
  ], 'one object per row keyed by output name; int64 beyond 2^53 exact as a string')

  const error = await inputError(t, predictInstances(mixed, [{ a: [1, 2], b: [1], flag: [true] }]))
  t.equal(error.message, 'instances[0].c: missing; expected row shape [] of int32')
  t.equal(error.field, 'instances[0].c')

  const iris = await predictInstances(manager.registry.get('iris'), [setosa, virginica])
  const [first, second] = iris.predictions as Array<{ label: unknown, probabilities: number[] }>
  t.equal(first.label, 0, 'the instances API returns raw outputs, no class names')
  t.equal(second.label, 2)
  t.equal(first.probabilities.length, 3)
  t.same(Object.keys(first), ['label', 'probabilities'])

  const sum = await predictInstances(manager.registry.get('sum'), [[1, 2, 3]])
  t.same(sum.predictions, [[12]], 'one output: the value itself')
})
