// What the Open Inference Protocol says about the server and a model (views
// of the data plane), and a model's configuration as Triton gives it.

import type { ServedModel, ServerInfo } from '../../data-plane/views'
import type { TensorSpec } from '../../tensors/tensor'
import { servedVersions } from '../../models/registry'
import { newestCount } from '../../models/repository'
import { v2DatatypeOf } from './datatypes'
import type { ModelMetadata, ServerMetadata } from './wire'

/** The protocol extensions this server offers, as Triton names them. */
const EXTENSIONS = ['binary_tensor_data', 'model_repository', 'model_configuration', 'statistics']

export function serverMetadata (server: ServerInfo): ServerMetadata {
  return { name: server.name, version: server.version, extensions: EXTENSIONS }
}

const tensorMetadata = (spec: TensorSpec): ModelMetadata['inputs'][number] => ({ name: spec.name, datatype: v2DatatypeOf(spec.type), shape: spec.shape })

export function modelMetadata ({ entry, model }: ServedModel): ModelMetadata {
  return {
    name: entry.name,
    versions: servedVersions(entry).map(String),
    platform: 'onnxruntime_onnx',
    inputs: model.inputs.map(tensorMetadata),
    outputs: model.outputs.map(tensorMetadata)
  }
}

export function modelReady ({ model }: ServedModel): { name: string, ready: boolean } {
  return { name: model.name, ready: true }
}

/** Triton's TYPE_* names, as perf_analyzer reads them from a model's config. */
const tritonDataType = (spec: TensorSpec): string => spec.type === 'string' ? 'TYPE_STRING' : `TYPE_${v2DatatypeOf(spec.type)}`

/**
 * The model's configuration as Triton's GET .../config gives it. With a
 * max_batch_size above 0, dims leave out the batch dimension, as Triton's do;
 * a tensor left with none is dims [1] with reshape [], as Triton writes it.
 */
export function modelConfig ({ entry, model }: ServedModel): Record<string, unknown> {
  const maxBatchSize = model.config.max_batch_size ?? 0
  const dims = (spec: TensorSpec): number[] => maxBatchSize > 0 ? spec.shape.slice(1) : spec.shape
  // Triton's dims are never empty: one value per row is dims [1] reshaped to [].
  const tensor = (spec: TensorSpec): Record<string, unknown> => {
    const own = dims(spec)
    return { name: spec.name, data_type: tritonDataType(spec), ...(own.length === 0 ? { dims: [1], reshape: { shape: [] } } : { dims: own }) }
  }
  const batching = model.config.dynamic_batching
  return {
    name: entry.name,
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    max_batch_size: maxBatchSize,
    input: model.inputs.map(tensor),
    output: model.outputs.map(tensor),
    version_policy: model.config.version_policy === 'all'
      ? { all: {} }
      : Array.isArray(model.config.version_policy) ? { specific: { versions: model.config.version_policy } } : { latest: { num_versions: newestCount(model.config.version_policy) } },
    ...(model.batcher === undefined
      ? {}
      : {
          dynamic_batching: {
            max_queue_delay_microseconds: Math.round((batching?.max_queue_delay_ms ?? 0) * 1000),
            preferred_batch_size: batching?.preferred_batch_size === undefined ? [] : [batching.preferred_batch_size]
          }
        })
  }
}
