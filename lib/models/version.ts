// One loaded version of a model, as the data plane reads it, and how a
// session's metadata becomes one: what the server cannot serve is refused
// here, with the fix, before any request can reach it.

import type { DynamicBatcher } from '../runtime/dynamic-batcher'
import type { SessionMetadata } from '../runtime/worker-messages'
import type { ModelSource } from './repository'
import { isFloatType, isIntegerType, isTensorType, type TensorSpec } from '../tensors/tensor'
import type { ModelConfig } from './model-config'
import { VersionStatisticsRecorder } from '../stats/model-statistics'

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
  /** Its statistics (the protocol's statistics extension): a reload makes a new version, which starts again. */
  statistics: VersionStatisticsRecorder
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

/**
 * Class labels: named so (label, output_label, classes, predicted_class…),
 * integers or strings, one per row (shape [batch] or [batch, 1]). The name
 * matters: an integer output beside a float one may be anything (a count, a
 * rounded value).
 */
function isLabelOutput (spec: TensorSpec): boolean {
  const oneValue = spec.shape.length === 1 || (spec.shape.length === 2 && spec.shape[1] === 1)
  return oneValue && /label|class/i.test(spec.name) && (spec.type === 'string' || isIntegerType(spec.type))
}

/**
 * What `/predict` returns when config.json's prediction_output says
 * nothing: a classifier's label output (classifiers export their labels
 * beside their scores, in either order: skl2onnx's output_label before
 * output_probability, others after), else the first output. A classifier
 * here is a model with a label output (isLabelOutput) and a floating-point one.
 */
export function defaultPredictionOutput (outputs: readonly TensorSpec[]): string {
  const label = outputs.find(isLabelOutput)
  const scores = outputs.some(spec => isFloatType(spec.type))
  return label !== undefined && scores ? label.name : outputs[0].name
}

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
  const predictionOutput = source.config.prediction_output ?? defaultPredictionOutput(metadata.outputs)
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
    statistics: new VersionStatisticsRecorder(source.name, version),
    inflight: 0,
    released: false
  }
}
