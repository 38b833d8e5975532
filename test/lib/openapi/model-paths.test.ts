import t from 'tap'
import type { ModelEntry } from '../../../lib/models/registry'
import type { ModelVersion } from '../../../lib/models/version'
import { modelPaths } from '../../../lib/openapi/model-paths'
import type { TensorSpec } from '../../../lib/tensors/tensor'
import { VersionStatisticsRecorder } from '../../../lib/stats/model-statistics'

function version (name: string, number: number, inputs: TensorSpec[], outputs: TensorSpec[], config = {}): ModelVersion {
  return { name, version: number, key: `${name}/${number}`, config, inputs, outputs, unservedOutputs: [], dimNames: {}, predictionOutput: outputs[0].name, statistics: new VersionStatisticsRecorder(name, number), inflight: 0, released: false }
}

function entry (name: string, state: ModelEntry['state'], versions: ModelVersion[]): ModelEntry {
  return { name, state, config: {}, versions: versions.map(v => v.version), loaded: new Map(versions.map(v => [v.version, v])) }
}

const digits = [
  version('digits', 1, [{ name: 'pixels', type: 'float32', shape: [-1, 64] }], [{ name: 'label', type: 'int64', shape: [-1] }]),
  version('digits', 3, [{ name: 'pixels', type: 'float32', shape: [-1, 64] }], [{ name: 'label', type: 'int64', shape: [-1] }, { name: 'scores', type: 'float32', shape: [-1, 10] }])
]
const scalar = version('scalar', 1, [{ name: 'x', type: 'string', shape: [] }], [{ name: 'y', type: 'bool', shape: [] }])

type Operation = { summary: string, requestBody: { content: { 'application/json': { example: Record<string, unknown> } } } }
const post = (paths: Record<string, Record<string, unknown>>, path: string): Operation => paths[path].post as Operation

t.test('each ready model gets its own operations, from its newest served version', async t => {
  const paths = modelPaths({ entries: [entry('digits', 'READY', digits), entry('gone', 'UNAVAILABLE', [])] })
  t.same(Object.keys(paths).sort(), ['/v1/models/digits:predict', '/v2/models/digits/infer'], 'models that do not serve have none')
  const infer = post(paths, '/v2/models/digits/infer')
  t.match(infer.summary, /version 3/)
  const example = infer.requestBody.content['application/json'].example as { inputs: Array<{ name: string, shape: number[], datatype: string, data: unknown[] }> }
  t.same(example.inputs.map(({ name, shape, datatype }) => ({ name, shape, datatype })), [{ name: 'pixels', shape: [1, 64], datatype: 'FP32' }], 'one row of the model\'s own input')
  t.equal(example.inputs[0].data.length, 64)
  const instances = (post(paths, '/v1/models/digits:predict').requestBody.content['application/json'].example as { instances: unknown[][] }).instances
  t.same(instances.map(row => row.length), [64], 'one row of 64')
})

t.test('a model whose inputs are scalars has no rows: /v2 only', async t => {
  const paths = modelPaths({ entries: [entry('scalar', 'READY', [scalar])] })
  t.same(Object.keys(paths), ['/v2/models/scalar/infer'])
  const example = post(paths, '/v2/models/scalar/infer').requestBody.content['application/json'].example as { inputs: Array<{ shape: number[], data: unknown[] }> }
  t.same(example.inputs[0], { name: 'x', shape: [], datatype: 'BYTES', data: [''] })
})
