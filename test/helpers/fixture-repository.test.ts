import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { buildFixtureRepository, fixtureModels, zipmapWeights } from './fixture-repository'

const repository = t.testdir()
buildFixtureRepository(repository)

function openModel (model: string, version = 1): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(join(repository, model, String(version), 'model.onnx'))
}

function listOf (data: ort.Tensor['data']): unknown[] {
  return Array.from(data as ArrayLike<unknown>)
}

t.test('writes every listed model folder', async t => {
  for (const model of [...fixtureModels.servable, ...fixtureModels.failing]) {
    t.ok(existsSync(join(repository, model)), model)
  }
  t.ok(existsSync(join(repository, 'sum', 'notaversion', 'README.txt')))
  t.same(JSON.parse(readFileSync(join(repository, 'badconfig', 'config.json'), 'utf8')), { max_batch_size: 4, colour: 'blue' })
})

t.test('sum versions differ by a factor of two', async t => {
  const x = new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3])
  const first = await openModel('sum', 1)
  const second = await openModel('sum', 2)
  t.same(first.inputMetadata, [{ name: 'x', isTensor: true, type: 'float32', shape: ['batch', 3] }])
  t.same(first.outputMetadata, [{ name: 'y', isTensor: true, type: 'float32', shape: ['batch', 1] }])
  const firstOut = (await first.run({ x })).y
  t.same(firstOut.dims, [2, 1])
  t.same(listOf(firstOut.data), [6, 15])
  t.same(listOf((await second.run({ x })).y.data), [12, 30])
})

t.test('mixed handles four element types', async t => {
  const session = await openModel('mixed')
  t.same(session.inputNames, ['a', 'b', 'c', 'flag'])
  t.same(session.outputNames, ['total', 'b_plus_one', 'c_neg', 'not_flag'])
  const out = await session.run({
    a: new ort.Tensor('float64', Float64Array.from([0.5, 0.25, 1, 2]), [2, 2]),
    b: new ort.Tensor('int64', BigInt64Array.from([10n, -3n]), [2, 1]),
    c: new ort.Tensor('int32', Int32Array.from([7, -8]), [2]),
    flag: new ort.Tensor('bool', Uint8Array.from([1, 0]), [2, 1])
  })
  t.equal(out.total.type, 'float64')
  t.same(listOf(out.total.data), [10.75, 0])
  t.same(listOf(out.b_plus_one.data), [11n, -2n])
  t.same(out.c_neg.dims, [2])
  t.same(listOf(out.c_neg.data), [-7, 8])
  t.equal(out.not_flag.type, 'bool')
  t.same(listOf(out.not_flag.data).map(Boolean), [false, true])
})

t.test('zipmap exposes a non-tensor probability output', async t => {
  const session = await openModel('zipmap')
  const [label, probability] = session.outputMetadata
  t.match(label, { name: 'output_label', isTensor: true, type: 'int64', shape: ['batch'] })
  t.match(probability, { name: 'output_probability', isTensor: false })
  const features = new ort.Tensor('float32', Float32Array.from([2, 0, 0, 3]), [2, 2])
  const out = await session.run({ float_input: features }, ['output_label'])
  t.same(Object.keys(out), ['output_label'])
  // Row [2, 0] gives logits [2, -2], row [0, 3] gives [-3, 3]
  t.same(zipmapWeights, [1, -1, -1, 1])
  t.same(listOf(out.output_label.data), [0n, 1n])
  // onnxruntime-node cannot hand back sequence/map values, so callers must leave them out of fetches
  await t.rejects(session.run({ float_input: features }), /Non tensor type/)
})

t.test('static has a fully fixed shape', async t => {
  const session = await openModel('static')
  t.same(session.inputMetadata, [{ name: 'x', isTensor: true, type: 'float32', shape: [2, 2] }])
  const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([-1, 2, -3, 4]), [2, 2]) })
  t.same(listOf(out.y.data), [0, 2, 0, 4])
})

t.test('broken model is rejected by onnxruntime', async t => {
  await t.rejects(openModel('broken'))
})

t.test('badconfig model itself loads, only its config is wrong', async t => {
  const session = await openModel('badconfig')
  t.same(session.inputNames, ['x'])
})
