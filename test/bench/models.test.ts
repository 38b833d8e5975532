import t from 'tap'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { findProjectRoot } from '../../scripts/build-models'
import { MLP_CONFIG, MLP_SPECS, MODELS, benchModel, mlpOnnx, modelFile, readOwnModel, useOwnModel, writeRepositories } from '../../bench/lib/models'
import { buildFixtureRepository, writeModelFolder } from '../helpers/fixture-repository'
import { randomRows } from '../../bench/lib/scenarios'

const root = findProjectRoot(__dirname)
// Built once: coverage instrumentation makes each build of 80k weights take seconds.
const smallBytes = mlpOnnx(MLP_SPECS.small)

t.test('the small MLP: same bytes for the same seed, [batch, 64] in, [batch, 10] finite scores out', async t => {
  const tiny = { name: 'tiny', layers: [4, 8, 3], seed: 1 }
  t.strictSame(mlpOnnx(tiny), mlpOnnx(tiny), 'deterministic')
  t.notSame(mlpOnnx({ ...tiny, seed: 99 }), mlpOnnx(tiny), 'another seed, other weights')
  const session = await ort.InferenceSession.create(smallBytes)
  t.teardown(() => session.release())
  t.strictSame(session.inputNames, ['features'])
  t.strictSame(session.outputNames, ['scores'])
  const rows = randomRows(MODELS.small, 3, 7)
  const { scores } = await session.run({ features: new ort.Tensor('float32', Float32Array.from(rows.flat()), [3, 64]) })
  t.strictSame(scores.dims, [3, 10])
  const values = Array.from(scores.data as Float32Array)
  t.ok(values.every(Number.isFinite), 'finite')
  t.ok(new Set(values).size > 20, 'rows get different scores')
})

t.test('the digits MLP has the shape of scikit-learn\'s MLPClassifier on the digits data: 64 → 100 → 10', async t => {
  t.strictSame(MLP_SPECS.digits.layers, [64, 100, 10])
  const session = await ort.InferenceSession.create(mlpOnnx(MLP_SPECS.digits))
  t.teardown(() => session.release())
  const { scores } = await session.run({ features: new ort.Tensor('float32', Float32Array.from(randomRows(MODELS.digits, 2, 7).flat()), [2, 64]) })
  t.strictSame(scores.dims, [2, 10])
})

t.test('writeRepositories: one repository per model, the MLPs with dynamic batching, iris copied', async t => {
  const dir = t.testdir()
  const repositories = writeRepositories(dir, ['small', 'iris'], root)
  t.strictSame(repositories, { small: join(dir, 'small'), iris: join(dir, 'iris') })
  t.strictSame(JSON.parse(readFileSync(join(dir, 'small', 'mlp-small', 'config.json'), 'utf8')), {
    description: 'benchmark MLP 64→256→256→10',
    ...MLP_CONFIG
  })
  t.strictSame(MLP_CONFIG, { max_batch_size: 64, dynamic_batching: { max_queue_delay_ms: 2 } })
  t.strictSame(readFileSync(modelFile(repositories.small, 'small')), Buffer.from(smallBytes))
  t.strictSame(readFileSync(modelFile(repositories.iris, 'iris')), readFileSync(join(root, 'models', 'iris', '1', 'model.onnx')))
  t.ok(existsSync(join(dir, 'iris', 'iris', 'config.json')))
  t.notOk(existsSync(join(dir, 'large')), 'only the models asked for')
  t.strictSame(MLP_SPECS.large.layers, [64, 2048, 2048, 10])
})

t.test('a model of the user\'s: its newest version, its input and width; read, never written', async t => {
  const repository = t.testdir()
  writeModelFolder(repository, 'mine', mlpOnnx({ name: 'mine', layers: [7, 8, 3], seed: 1 }))
  mkdirSync(join(repository, 'mine', '3'))
  writeFileSync(join(repository, 'mine', '3', 'model.onnx'), mlpOnnx({ name: 'mine', layers: [7, 8, 3], seed: 2 }))
  const own = await readOwnModel(repository, 'mine')
  t.match(own, { key: 'own', name: 'mine', input: 'features', width: 7, repository })
  t.equal(own.file, join(repository, 'mine', '3', 'model.onnx'), 'the newest version')
  useOwnModel(own)
  t.equal(benchModel('own'), own)
  t.equal(modelFile('unused', 'own'), own.file)
  t.strictSame(writeRepositories(t.testdir(), ['own'], root), { own: repository }, 'the repository as it is')

  buildFixtureRepository(repository)
  await t.rejects(readOwnModel(repository, 'mixed'), /--model mixed: the bench sends rows of floats to one float32 input of shape \[batch, N\]; its inputs are a float64/)
  await t.rejects(readOwnModel(repository, 'absent'), /--model absent: .* holds no <version>\/model.onnx/)
})
