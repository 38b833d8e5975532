import t from 'tap'
import { InferencePool } from '../../../lib/runtime/inference-pool'
import { ModelManager } from '../../../lib/models/manager'
import type { TensorMap } from '../../../lib/tensors/tensor'
import { windowSumModel, windowSums, writeModelFolder } from '../../helpers/fixture-repository'
import { ElemType, encodeModel, node, tensorInput, tensorOutput } from '../../../scripts/onnx-graph'

/** A pool that records every run: the session key, and each feed's dims and first element. */
class RecordingPool extends InferencePool {
  runs: Array<{ key: string, feeds: Record<string, { dims: number[], first: unknown }> }> = []

  // Each worker's warm-up run makes its own tensors: each is recorded.
  override async warm (key: string, feeds: () => TensorMap, fetches: string[]): Promise<void> {
    await super.warm(key, () => {
      const made = feeds()
      this.runs.push({ key, feeds: Object.fromEntries(Object.entries(made).map(([name, tensor]) => [name, { dims: tensor.dims, first: tensor.data[0] }])) })
      return made
    }, fetches)
  }

  runsOf (model: string): RecordingPool['runs'] {
    return this.runs.filter(run => run.key.startsWith(`${model}/`))
  }
}

const image = (height: number, width: number): { dims: number[], values: number[] } =>
  ({ dims: [1, 1, height, width], values: Array.from({ length: height * width }, (_, i) => i % 7 - 2) })

const imageInput = (shape: number[], extra: object = {}): object => ({ inputs: { image: { shape, ...extra } } })
const warmups: Record<string, object[]> = {
  'conv-warm': [{ name: 'a page', ...imageInput([2, 1, 8, 6], { fill: 0.5 }) }, imageInput([1, 1, 3, 3])],
  'conv-tiny': [{ name: 'tiny', ...imageInput([1, 1, 2, 2]) }],
  'conv-rank': [imageInput([1, 5, 5])],
  'conv-channels': [imageInput([1, 1, 5, 5]), imageInput([1, 3, 5, 5])],
  'conv-batch': [imageInput([8, 1, 5, 5])],
  'conv-huge': [imageInput([1, 1, 8192, 8192])],
  'conv-fill': [imageInput([1, 1, 5, 5], { fill: true })],
  'conv-unknown': [{ inputs: { image: { shape: [1, 1, 5, 5] }, mask: { shape: [1, 1, 5, 5] } } }],
  'conv-missing': [{ inputs: {} }],
  'conv-none': []
}

const repository = t.testdir()
writeModelFolder(repository, 'conv', windowSumModel())
for (const [name, warmup] of Object.entries(warmups)) {
  writeModelFolder(repository, name, windowSumModel(), name === 'conv-batch' ? { max_batch_size: 4, warmup } : { warmup })
}
const reluModel = encodeModel({
  graphName: 'relu',
  inputs: [tensorInput('x', ElemType.FLOAT, ['batch', 3])],
  outputs: [tensorOutput('y', ElemType.FLOAT, ['batch', 3])],
  nodes: [node('Relu', ['x'], ['y'])]
})
writeModelFolder(repository, 'relu', reluModel)
// Zeros for its target shape fail the default warm-up; a fill of 1 (an int64) works
const reshapeModel = encodeModel({
  graphName: 'reshape',
  inputs: [tensorInput('x', ElemType.FLOAT, ['batch']), tensorInput('shape', ElemType.INT64, [2])],
  outputs: [tensorOutput('y', ElemType.FLOAT, ['rows', 'columns'])],
  nodes: [node('Reshape', ['x', 'shape'], ['y'])]
})
writeModelFolder(repository, 'reshape', reshapeModel, { warmup: [{ inputs: { x: { shape: [1] }, shape: { shape: [2], fill: 1 } } }] })

const logs: Array<{ details: Record<string, unknown>, message: string }> = []
const pool = new RecordingPool({ workers: 1, threadsPerSession: 1, maxPending: 16, timeoutMs: 10_000 })
const manager = new ModelManager(pool, { repository, log: { info: (details, message) => logs.push({ details, message }) } })
t.teardown(() => manager.close())
t.before(() => manager.loadAll())

const fix = (at: string): string => `; give config.json's ${at} shapes and fill values that the model accepts, or remove it`

t.test('dynamic dimensions beyond the batch: loads without a warm-up, says so once, and serves any image size', async t => {
  t.equal(manager.registry.entry('conv').state, 'READY')
  t.same(pool.runsOf('conv'), [], 'no size was guessed')
  t.same(logs, [{
    details: { model: 'conv', version: 1, dynamicDimensions: ['image[2] (height)', 'image[3] (width)'] },
    message: "model 'conv' version 1: warm-up skipped, its dynamic dimensions beyond the batch (image[2] (height), image[3] (width)) cannot be guessed; add a warmup to its config.json to warm it up"
  }], 'one info line naming the model and the dimensions, for conv only')

  const model = manager.registry.get('conv')
  t.same(model.inputs, [{ name: 'image', type: 'float32', shape: [-1, 1, -1, -1] }])
  for (const [height, width] of [[5, 5], [8, 6]]) {
    const { dims, values } = image(height, width)
    const outputs = await manager.run(model, { image: { type: 'float32', dims, data: Float32Array.from(values) } })
    t.same(outputs.sums.dims, [1, 1, height - 2, width - 2], `${height}×${width}: output shape`)
    t.same(Array.from(outputs.sums.data as Float32Array), windowSums(values, height, width), `${height}×${width}: each 3×3 window summed`)
  }
  const outputs = await manager.run(model, { image: { type: 'float32', dims: [2, 1, 4, 3], data: new Float32Array(24).fill(1) } })
  t.same(outputs.sums.dims, [2, 1, 2, 1], 'a batch of two')
  t.same(Array.from(outputs.sums.data as Float32Array), [9, 9, 9, 9])
})

t.test('only the batch dynamic: the default warm-up, zeros with one row, once per worker', async t => {
  t.equal(manager.registry.entry('relu').state, 'READY')
  t.same(pool.runsOf('relu'), [{ key: manager.registry.get('relu').key, feeds: { x: { dims: [1, 3], first: 0 } } }])
})

t.test('configured samples run in order, once per worker each, with their shapes and fill values', async t => {
  t.equal(manager.registry.entry('conv-warm').state, 'READY')
  const key = manager.registry.get('conv-warm').key
  t.same(pool.runsOf('conv-warm'), [
    { key, feeds: { image: { dims: [2, 1, 8, 6], first: 0.5 } } },
    { key, feeds: { image: { dims: [1, 1, 3, 3], first: 0 } } }
  ])
  t.equal(manager.registry.entry('reshape').state, 'READY', 'an int64 fill')
  t.same(pool.runsOf('reshape')[0].feeds.shape, { dims: [2], first: 1n })
  t.equal(manager.registry.entry('conv-none').state, 'READY', '[] runs no warm-up')
  t.same(pool.runsOf('conv-none'), [])
})

t.test('a warm-up the model refuses makes it UNAVAILABLE with the reason and the fix', async t => {
  const tiny = manager.registry.entry('conv-tiny')
  t.equal(tiny.state, 'UNAVAILABLE')
  t.match(tiny.reason, /^version 1: the warm-up sample warmup\[0\] 'tiny' failed: .*Conv/)
  t.ok(tiny.reason?.endsWith(fix('warmup[0]')), 'the fix names the sample')
  t.equal(tiny.loaded.size, 0)
  await t.rejects(pool.run(pool.runsOf('conv-tiny')[0].key, { image: { type: 'float32', dims: [1, 1, 3, 3], data: new Float32Array(9) } }, ['sums']),
    /is not loaded in this worker/, 'its session left the pool')
})

t.test('a warm-up sample that cannot fit the model is refused before it runs', async t => {
  const like = "input 'image' of version 1 ([-1, 1, -1, -1], -1: any size)"
  const reasons: Record<string, string> = {
    'conv-rank': `config.json: warmup[0].inputs.image.shape: expected 4 dimensions like ${like}, received [1, 5, 5]`,
    'conv-channels': `config.json: warmup[1].inputs.image.shape[1]: expected 1 like ${like}, received 3`,
    'conv-batch': 'config.json: warmup[0].inputs.image.shape[0]: expected at most max_batch_size (4) rows, received 8',
    'conv-huge': 'config.json: warmup[0].inputs.image.shape: [1, 1, 8192, 8192] is 67108864 elements; a warm-up input may have at most 16777216',
    'conv-fill': "config.json: warmup[0].inputs.image.fill: expected a number (float32) for input 'image' of type float32, received true",
    'conv-unknown': "config.json: warmup[0].inputs: version 1 has no input 'mask'; its inputs: image",
    'conv-missing': "config.json: warmup[0].inputs: missing 'image' ([-1, 1, -1, -1]); a warm-up sample gives every input of the model a shape"
  }
  for (const [name, reason] of Object.entries(reasons)) {
    t.match(manager.registry.entry(name), { state: 'UNAVAILABLE', reason }, name)
    t.same(pool.runsOf(name), [], `${name}: nothing ran`)
  }
})
