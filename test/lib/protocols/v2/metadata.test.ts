import t from 'tap'
import type { ServedModel } from '../../../../lib/data-plane/views'
import type { ModelConfig } from '../../../../lib/models/model-config'
import type { ModelVersion } from '../../../../lib/models/version'
import { modelConfig, modelMetadata, modelReady, serverMetadata } from '../../../../lib/protocols/v2/metadata'
import { VersionStatisticsRecorder } from '../../../../lib/stats/model-statistics'

function served (config: ModelConfig, batched = false): ServedModel {
  const model: ModelVersion = {
    name: 'm',
    version: 2,
    key: 'm/2',
    config,
    inputs: [{ name: 'x', type: 'float32', shape: [-1, 3] }, { name: 'text', type: 'string', shape: [-1] }],
    outputs: [{ name: 'y', type: 'int64', shape: [-1] }],
    unservedOutputs: [],
    dimNames: {},
    predictionOutput: 'y',
    statistics: new VersionStatisticsRecorder('m', 2),
    inflight: 0,
    released: false,
    ...(batched ? { batcher: {} as NonNullable<ModelVersion['batcher']> } : {})
  }
  const other = { ...model, version: 1, key: 'm/1' }
  return { entry: { name: 'm', state: 'READY', config, versions: [1, 2, 3], loaded: new Map([[2, model], [1, other]]) }, model }
}

t.test('server and model metadata in the protocol\'s shapes', async t => {
  t.same(serverMetadata({ name: 'onnx-serve', version: '1.2.3' }), { name: 'onnx-serve', version: '1.2.3', extensions: ['binary_tensor_data', 'model_repository', 'model_configuration', 'statistics'] })
  t.same(modelMetadata(served({})), {
    name: 'm',
    versions: ['1', '2'],
    platform: 'onnxruntime_onnx',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3] }, { name: 'text', datatype: 'BYTES', shape: [-1] }],
    outputs: [{ name: 'y', datatype: 'INT64', shape: [-1] }]
  }, 'the versions served, sorted, as strings')
  t.same(modelReady(served({})), { name: 'm', ready: true })
})

t.test('the model configuration as Triton gives it', async t => {
  const plain = modelConfig(served({}))
  t.match(plain, {
    name: 'm',
    max_batch_size: 0,
    input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [-1, 3] }, { name: 'text', data_type: 'TYPE_STRING', dims: [-1] }],
    output: [{ name: 'y', data_type: 'TYPE_INT64', dims: [-1] }],
    version_policy: { latest: { num_versions: 1 } }
  })
  t.notOk('dynamic_batching' in plain, 'no batcher: no dynamic_batching')

  const batched = modelConfig(served({ max_batch_size: 8, version_policy: 'all', dynamic_batching: { max_queue_delay_ms: 1.5, preferred_batch_size: 4 } }, true))
  t.match(batched, {
    max_batch_size: 8,
    input: [{ name: 'x', dims: [3] }, { name: 'text', dims: [] }],
    version_policy: { all: {} },
    dynamic_batching: { max_queue_delay_microseconds: 1500, preferred_batch_size: [4] }
  }, 'with max_batch_size the dims leave the batch out')
  t.same(modelConfig(served({ version_policy: [1, 3] })).version_policy, { specific: { versions: [1, 3] } })
  t.same(modelConfig(served({ max_batch_size: 2 }, true)).dynamic_batching, { max_queue_delay_microseconds: 0, preferred_batch_size: [] })
})
