// Writes a small Triton-layout model repository covering the cases the server must handle.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  ElemType,
  ML_DOMAIN,
  DEFAULT_OPSET,
  type Dim,
  attribute,
  encodeModel,
  floatInitializer,
  int64Initializer,
  node,
  sequenceOfMapsOutput,
  tensorInput,
  tensorOutput
} from '../../scripts/onnx-graph'

export const fixtureModels = {
  servable: ['mixed', 'static', 'sum', 'zipmap'],
  failing: ['badconfig', 'broken', 'empty']
} as const

// Weights of the zipmap classifier, exported so tests can compute the expected probabilities
export const zipmapWeights = [1, -1, -1, 1]

function writeFile (path: string, contents: Uint8Array | string): void {
  mkdirSync(join(path, '..'), { recursive: true })
  writeFileSync(path, contents)
}

function writeConfig (dir: string, model: string, config: object): void {
  writeFile(join(dir, model, 'config.json'), JSON.stringify(config, null, 2) + '\n')
}

// ReduceSum takes its axes as an input since opset 13
const sumOverFeatures = int64Initializer('sum_axes', [1], [1])

// Version 2 doubles the sum so tests can tell which version answered
function sumModel (scale: number): Uint8Array {
  const reduceSum = node('ReduceSum', ['x', 'sum_axes'], [scale === 1 ? 'y' : 'row_sum'], [attribute.int('keepdims', 1)])
  return encodeModel({
    graphName: `sum_times_${scale}`,
    inputs: [tensorInput('x', ElemType.FLOAT, ['batch', 3])],
    outputs: [tensorOutput('y', ElemType.FLOAT, ['batch', 1])],
    initializers: scale === 1 ? [sumOverFeatures] : [sumOverFeatures, floatInitializer('scale', [], [scale])],
    nodes: scale === 1 ? [reduceSum] : [reduceSum, node('Mul', ['row_sum', 'scale'], ['y'])]
  })
}

function mixedModel (): Uint8Array {
  return encodeModel({
    graphName: 'mixed',
    inputs: [
      tensorInput('a', ElemType.DOUBLE, ['batch', 2]),
      tensorInput('b', ElemType.INT64, ['batch', 1]),
      tensorInput('c', ElemType.INT32, ['batch']),
      tensorInput('flag', ElemType.BOOL, ['batch', 1])
    ],
    outputs: [
      tensorOutput('total', ElemType.DOUBLE, ['batch', 1]),
      tensorOutput('b_plus_one', ElemType.INT64, ['batch', 1]),
      tensorOutput('c_neg', ElemType.INT32, ['batch']),
      tensorOutput('not_flag', ElemType.BOOL, ['batch', 1])
    ],
    initializers: [sumOverFeatures, int64Initializer('one', [], [1])],
    nodes: [
      node('ReduceSum', ['a', 'sum_axes'], ['a_sum'], [attribute.int('keepdims', 1)]),
      node('Cast', ['b'], ['b_double'], [attribute.int('to', ElemType.DOUBLE)]),
      node('Add', ['a_sum', 'b_double'], ['total']),
      node('Add', ['b', 'one'], ['b_plus_one']),
      node('Neg', ['c'], ['c_neg']),
      node('Not', ['flag'], ['not_flag'])
    ]
  })
}

// Shaped like skl2onnx's default classifier export, whose probabilities come out as a ZipMap
function zipmapModel (): Uint8Array {
  return encodeModel({
    graphName: 'zipmap',
    opsets: [DEFAULT_OPSET, { domain: ML_DOMAIN, version: 1 }],
    inputs: [tensorInput('float_input', ElemType.FLOAT, ['batch', 2])],
    outputs: [
      tensorOutput('output_label', ElemType.INT64, ['batch']),
      sequenceOfMapsOutput('output_probability')
    ],
    initializers: [floatInitializer('weights', [2, 2], zipmapWeights)],
    nodes: [
      node('MatMul', ['float_input', 'weights'], ['logits']),
      node('Softmax', ['logits'], ['probabilities'], [attribute.int('axis', 1)]),
      node('ArgMax', ['probabilities'], ['output_label'], [attribute.int('axis', 1), attribute.int('keepdims', 0)]),
      node('ZipMap', ['probabilities'], ['output_probability'], [attribute.ints('classlabels_int64s', [0, 1])], ML_DOMAIN)
    ]
  })
}

function reluModel (graphName: string, dims: Dim[]): Uint8Array {
  return encodeModel({
    graphName,
    inputs: [tensorInput('x', ElemType.FLOAT, dims)],
    outputs: [tensorOutput('y', ElemType.FLOAT, dims)],
    nodes: [node('Relu', ['x'], ['y'])]
  })
}

/**
 * A 3×3 convolution with an all-ones kernel, so each output element is the
 * sum of a 3×3 window: input `image` [batch, 1, height, width], every
 * dimension but the channel dynamic; output `sums` [batch, 1, height-2, width-2].
 * A 1×1 image is refused by the runtime, as by any real image model.
 */
export function windowSumModel (): Uint8Array {
  return encodeModel({
    graphName: 'window_sum',
    inputs: [tensorInput('image', ElemType.FLOAT, ['batch', 1, 'height', 'width'])],
    outputs: [tensorOutput('sums', ElemType.FLOAT, ['batch', 1, 'sums_height', 'sums_width'])],
    initializers: [floatInitializer('kernel', [1, 1, 3, 3], Array(9).fill(1))],
    nodes: [node('Conv', ['image', 'kernel'], ['sums'], [attribute.ints('kernel_shape', [3, 3])])]
  })
}

/** What windowSumModel gives for one height×width image (row-major): each 3×3 window's sum. */
export function windowSums (image: number[], height: number, width: number): number[] {
  const sums: number[] = []
  for (let row = 0; row + 3 <= height; row++) {
    for (let column = 0; column + 3 <= width; column++) {
      let sum = 0
      for (let i = 0; i < 9; i++) sum += image[(row + Math.floor(i / 3)) * width + column + (i % 3)]
      sums.push(sum)
    }
  }
  return sums
}

/** Writes `<dir>/<name>/1/model.onnx` and, when given, the model's config.json. */
export function writeModelFolder (dir: string, name: string, model: Uint8Array, config?: object): void {
  writeFile(join(dir, name, '1', 'model.onnx'), model)
  if (config !== undefined) writeConfig(dir, name, config)
}

export function buildFixtureRepository (dir: string): void {
  writeFile(join(dir, 'sum', '1', 'model.onnx'), sumModel(1))
  writeFile(join(dir, 'sum', '2', 'model.onnx'), sumModel(2))
  writeFile(join(dir, 'sum', 'notaversion', 'README.txt'), 'Not a version folder: the server must skip it.\n')

  writeFile(join(dir, 'mixed', '1', 'model.onnx'), mixedModel())
  writeConfig(dir, 'mixed', { max_batch_size: 8 })

  writeFile(join(dir, 'zipmap', '1', 'model.onnx'), zipmapModel())

  writeFile(join(dir, 'static', '1', 'model.onnx'), reluModel('static', [2, 2]))
  writeConfig(dir, 'static', { max_batch_size: 0 })

  writeFile(join(dir, 'broken', '1', 'model.onnx'), 'this is not an onnx model')

  writeFile(join(dir, 'badconfig', '1', 'model.onnx'), reluModel('badconfig', ['batch', 2]))
  writeConfig(dir, 'badconfig', { max_batch_size: 4, colour: 'blue' })

  mkdirSync(join(dir, 'empty'), { recursive: true })
}
