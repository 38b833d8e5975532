import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import * as ort from 'onnxruntime-node'
import {
  CLASSIFIER_NAME,
  IRIS_LABELS,
  REGRESSOR_NAME,
  SEED,
  buildBundledModels,
  findProjectRoot,
  meanAbsoluteError,
  petalWidth,
  rSquared,
  regressorFeatures,
  splitIris
} from '../../scripts/build-models'

function filesUnder (dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter(entry => entry.isFile())
    .map(entry => relative(dir, join(entry.parentPath, entry.name)))
    .sort()
}

function featureTensor (rows: number[][]): ort.Tensor {
  return new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, rows[0].length])
}

const buildDir = t.testdir()
const firstDir = join(buildDir, 'first')
const secondDir = join(buildDir, 'second')
const { test } = splitIris(SEED)

t.test('split is stratified 80/20 and reproducible', async t => {
  const split = splitIris(SEED)
  t.equal(split.train.length, 120)
  t.equal(split.test.length, 30)
  for (const label of IRIS_LABELS.keys()) {
    t.equal(split.test.filter(sample => sample.classIndex === label).length, 10, `10 test rows of ${IRIS_LABELS[label]}`)
  }
  t.same(splitIris(SEED), split)
  t.notSame(splitIris(SEED + 1).test, split.test, 'another seed gives another split')
})

t.test('building twice gives byte-identical files', async t => {
  const firstReport = await buildBundledModels(firstDir)
  const secondReport = await buildBundledModels(secondDir)
  t.same(secondReport, firstReport)
  const files = filesUnder(firstDir)
  t.same(files, [
    'METRICS.json',
    join(CLASSIFIER_NAME, '1', 'model.onnx'),
    join(CLASSIFIER_NAME, 'config.json'),
    join(REGRESSOR_NAME, '1', 'model.onnx'),
    join(REGRESSOR_NAME, 'config.json')
  ].sort())
  t.same(filesUnder(secondDir), files)
  for (const file of files) {
    t.ok(readFileSync(join(firstDir, file)).equals(readFileSync(join(secondDir, file))), `${file} is identical`)
  }
  t.same(JSON.parse(readFileSync(join(firstDir, 'METRICS.json'), 'utf8')), firstReport)
  const { description, ...classifierConfig } = JSON.parse(readFileSync(join(firstDir, CLASSIFIER_NAME, 'config.json'), 'utf8'))
  t.match(description, /Iris species/)
  t.same(classifierConfig, {
    labels: ['setosa', 'versicolor', 'virginica'],
    max_batch_size: 64,
    dynamic_batching: { max_queue_delay_ms: 2 },
    prediction_output: 'label'
  })
  t.match(JSON.parse(readFileSync(join(firstDir, REGRESSOR_NAME, 'config.json'), 'utf8')), {
    description: /petal width/,
    max_batch_size: 64
  })
})

t.test('classifier served by onnxruntime', async t => {
  const session = await ort.InferenceSession.create(join(firstDir, CLASSIFIER_NAME, '1', 'model.onnx'))
  t.teardown(() => session.release())
  t.same(session.inputMetadata, [{ name: 'features', isTensor: true, type: 'float32', shape: ['batch', 4] }])
  t.same(session.outputMetadata, [
    { name: 'label', isTensor: true, type: 'int64', shape: ['batch'] },
    { name: 'probabilities', isTensor: true, type: 'float32', shape: ['batch', 3] }
  ])

  const outputs = await session.run({ features: featureTensor(test.map(sample => sample.features)) })
  t.same(outputs.label.dims, [30])
  t.same(outputs.probabilities.dims, [30, 3])
  const labels = Array.from(outputs.label.data as BigInt64Array, Number)
  const probabilities = outputs.probabilities.data as Float32Array
  labels.forEach((label, row) => {
    const rowProbabilities = Array.from(probabilities.subarray(row * 3, row * 3 + 3))
    t.ok(Math.abs(rowProbabilities.reduce((sum, value) => sum + value, 0) - 1) < 1e-5, `row ${row} sums to 1`)
    t.equal(label, rowProbabilities.indexOf(Math.max(...rowProbabilities)), `row ${row} label is the most probable class`)
  })

  const accuracy = labels.filter((label, row) => label === test[row].classIndex).length / test.length
  // Iris is nearly linearly separable; a working softmax regression misses at most a few versicolor/virginica rows
  t.ok(accuracy >= 0.9, `test accuracy ${accuracy} >= 0.9`)
  const metrics = JSON.parse(readFileSync(join(firstDir, 'METRICS.json'), 'utf8'))
  t.equal(metrics.classifier.testAccuracy, Math.round(accuracy * 1e4) / 1e4, 'METRICS.json reports what onnxruntime achieves')
  t.equal(metrics.classifier.testSize, 30)

  // Setosa is separable from the rest, so a typical setosa flower must be called setosa with confidence
  const setosa = await session.run({ features: featureTensor([[5.0, 3.4, 1.5, 0.2]]) })
  t.equal(Number((setosa.label.data as BigInt64Array)[0]), 0)
  t.ok((setosa.probabilities.data as Float32Array)[0] > 0.9)
})

t.test('regressor served by onnxruntime', async t => {
  const session = await ort.InferenceSession.create(join(firstDir, REGRESSOR_NAME, '1', 'model.onnx'))
  t.teardown(() => session.release())
  t.same(session.inputMetadata, [{ name: 'features', isTensor: true, type: 'float32', shape: ['batch', 3] }])
  t.same(session.outputMetadata, [{ name: 'petal_width', isTensor: true, type: 'float32', shape: ['batch', 1] }])

  const outputs = await session.run({ features: featureTensor(test.map(regressorFeatures)) })
  t.same(outputs.petal_width.dims, [30, 1])
  const predicted = Array.from(outputs.petal_width.data as Float32Array)
  const actual = test.map(petalWidth)
  const r2 = rSquared(predicted, actual)
  const mae = meanAbsoluteError(predicted, actual)
  // Petal width is strongly tied to petal length; a correct linear fit explains about 95% of its variance
  t.ok(r2 >= 0.9, `test R² ${r2} >= 0.9`)
  t.ok(mae < 0.2, `test MAE ${mae} cm < 0.2 cm`)
  const metrics = JSON.parse(readFileSync(join(firstDir, 'METRICS.json'), 'utf8'))
  t.equal(metrics.regressor.testR2, Math.round(r2 * 1e4) / 1e4)
  t.equal(metrics.regressor.testMae, Math.round(mae * 1e4) / 1e4)
})

t.test('project root is found from source and compiled locations', async t => {
  const root = findProjectRoot(join(__dirname, '..', '..', 'scripts'))
  t.equal(findProjectRoot(join(root, 'dist', 'scripts')), root)
  t.equal(findProjectRoot(join(root, 'scripts')), root)
})
