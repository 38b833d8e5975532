// One loaded version of a model, as the data plane reads it, and how a
// session's metadata becomes one: what the server cannot serve is refused
// here, with the fix, before any request can reach it.

import type { DynamicBatcher } from '../runtime/dynamic-batcher'
import type { SessionMetadata } from '../runtime/worker-messages'
import type { ModelSource } from './repository'
import { isTensorType, type TensorSpec } from '../tensors/tensor'
import type { ModelConfig } from './model-config'

export interface UnservedOutput {
  name: string
  reason: string
}

/** One loaded version of a model, ready to run. */
export interface ModelVersion {
  name: string
  version: number
  /** The pool's session key. */
  key: string
  config: ModelConfig
  inputs: TensorSpec[]
  outputs: TensorSpec[]
  unservedOutputs: UnservedOutput[]
  dimNames: SessionMetadata['dimNames']
  /** The output `/predict` returns. */
  predictionOutput: string
  /** SHA-256 of the model file (hex), read when config.json enables the prediction cache. */
  digest?: string
  /** Present when config.json asks for dynamic batching and the model allows it. */
  batcher?: DynamicBatcher
  /** Runs in progress on this version; it is released from the pool only at 0. */
  inflight: number
  /**
   * Set once an unload or a reload has let go of this version: a request
   * that got it from get() before then is answered 503 instead of reaching
   * a session that is being released.
   */
  released: boolean
}

/**
 * Whether a model's first dimension is the batch: config.json gives
 * max_batch_size, or the first dimension of every input is dynamic.
 */
export function hasBatchDimension (model: Pick<ModelVersion, 'config' | 'inputs'>): boolean {
  return (model.config.max_batch_size ?? 0) > 0 || model.inputs.every(spec => spec.shape.length > 0 && spec.shape[0] === -1)
}

export const NON_TENSOR_FIX = 'sequence and map outputs (such as skl2onnx\'s ZipMap) cannot be returned; ' +
  're-export with skl2onnx options={id(model): {"zipmap": False}} to get a probability tensor'

/** A version of `source` from its session's metadata; throws the reason it cannot be served. */
export function describeVersion (source: ModelSource, version: number, key: string, metadata: SessionMetadata): ModelVersion {
  for (const spec of [...metadata.inputs, ...metadata.outputs]) {
    if (!isTensorType(spec.type)) {
      throw new Error(`version ${version}: '${spec.name}' has element type ${spec.type}, which onnx-serve cannot encode; re-export it with float32, float64, an integer type, bool or string`)
    }
  }
  if (metadata.inputs.length === 0) {
    throw new Error(`version ${version}: the model has no inputs, so there is nothing to predict from`)
  }
  if (metadata.outputs.length === 0) {
    throw new Error(`version ${version}: no tensor output to return; ${NON_TENSOR_FIX}`)
  }
  const outputNames = metadata.outputs.map(output => output.name)
  const predictionOutput = source.config.prediction_output ?? outputNames[0]
  if (!outputNames.includes(predictionOutput)) {
    throw new Error(`config.json: prediction_output '${predictionOutput}' is not a tensor output of version ${version}; outputs: ${outputNames.join(', ')}`)
  }
  return {
    name: source.name,
    version,
    key,
    config: source.config,
    inputs: metadata.inputs,
    outputs: metadata.outputs,
    unservedOutputs: metadata.nonTensorOutputs.map(name => ({ name, reason: NON_TENSOR_FIX })),
    dimNames: metadata.dimNames,
    predictionOutput,
    inflight: 0,
    released: false
  }
}
