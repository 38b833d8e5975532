// What the HTTP APIs say about a model: plain objects in the shapes of
// schemas/models.ts, built from the model manager's state.

import type { ModelEntry } from '../../models/registry'
import type { ModelVersion } from '../../models/version'
import type { ModelMetadata, ModelSummary } from '../../../schemas/models'
import { tensorTypes, type TensorSpec } from '../../tensors/tensor'

export function summarizeModel (entry: ModelEntry): ModelSummary {
  const served = [...entry.loaded.keys()].sort((a, b) => a - b)
  return {
    name: entry.name,
    state: entry.state,
    reason: entry.reason,
    versions: [...entry.versions],
    served_versions: served,
    default_version: served.at(-1),
    description: entry.config.description
  }
}

function tensorMetadata (spec: TensorSpec, model: ModelVersion): ModelMetadata['inputs'][number] {
  const names = model.dimNames[spec.name]
  return {
    name: spec.name,
    datatype: spec.type,
    shape: spec.shape,
    dim_names: names?.some(name => name !== null) ? names : undefined
  }
}

/**
 * The model's metadata, with the status fields KServe V1 (`ready`) and TF
 * Serving (`model_version_status`) clients read; `onlyVersion` narrows the
 * status to the version a TF Serving client asked for.
 */
export function describeModel (entry: ModelEntry, model: ModelVersion, onlyVersion?: number): ModelMetadata {
  const versions = onlyVersion === undefined ? [...entry.loaded.keys()].sort((a, b) => a - b) : [onlyVersion]
  return {
    ...summarizeModel(entry),
    inputs: model.inputs.map(spec => tensorMetadata(spec, model)),
    outputs: model.outputs.map(spec => tensorMetadata(spec, model)),
    unserved_outputs: model.unservedOutputs,
    prediction_output: model.predictionOutput,
    labels: model.config.labels,
    config: model.config,
    ready: entry.state === 'READY',
    model_version_status: versions.map(version => ({ version: String(version), state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }))
  }
}

// Open Inference Protocol (KServe v2) and Triton shapes of the same facts.

export interface V2TensorMetadata {
  name: string
  datatype: string
  shape: number[]
}

export interface V2ModelMetadata {
  name: string
  versions: string[]
  platform: string
  inputs: V2TensorMetadata[]
  outputs: V2TensorMetadata[]
}

const v2Tensor = (spec: TensorSpec): V2TensorMetadata => ({ name: spec.name, datatype: tensorTypes[spec.type].datatype, shape: spec.shape })

export function v2ModelMetadata (entry: ModelEntry, model: ModelVersion): V2ModelMetadata {
  return {
    name: entry.name,
    versions: [...entry.loaded.keys()].sort((a, b) => a - b).map(String),
    platform: 'onnxruntime_onnx',
    inputs: model.inputs.map(v2Tensor),
    outputs: model.outputs.map(v2Tensor)
  }
}

/** Triton's TYPE_* names, as perf_analyzer reads them from a model's config. */
const tritonDataType = (spec: TensorSpec): string => spec.type === 'string' ? 'TYPE_STRING' : `TYPE_${tensorTypes[spec.type].datatype}`

/**
 * The model's configuration as Triton's GET .../config gives it. With a
 * max_batch_size above 0, dims leave out the batch dimension, as Triton's do.
 */
export function tritonModelConfig (entry: ModelEntry, model: ModelVersion): Record<string, unknown> {
  const maxBatchSize = model.config.max_batch_size ?? 0
  const dims = (spec: TensorSpec): number[] => maxBatchSize > 0 ? spec.shape.slice(1) : spec.shape
  const tensor = (spec: TensorSpec) => ({ name: spec.name, data_type: tritonDataType(spec), dims: dims(spec) })
  return {
    name: entry.name,
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    max_batch_size: maxBatchSize,
    input: model.inputs.map(tensor),
    output: model.outputs.map(tensor),
    version_policy: model.config.version_policy === 'all'
      ? { all: {} }
      : Array.isArray(model.config.version_policy) ? { specific: { versions: model.config.version_policy } } : { latest: { num_versions: 1 } },
    ...(model.batcher === undefined
      ? {}
      : {
          dynamic_batching: {
            max_queue_delay_microseconds: Math.round((model.config.dynamic_batching?.max_queue_delay_ms ?? 0) * 1000),
            preferred_batch_size: model.config.dynamic_batching?.preferred_batch_size === undefined ? [] : [model.config.dynamic_batching.preferred_batch_size]
          }
        })
  }
}
