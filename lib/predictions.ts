// The two row-oriented APIs over a model: `/predict` (one output, class names
// for labels) and TF Serving's `instances` (every output).

import { InputError } from './errors'
import type { ModelManager, ModelVersion } from './model-manager'
import { decodeRowOrRows, decodeRows, encodePredictions, tensorToRows, type DecodeLimits } from './tensor-codec'
import type { TensorMap } from './tensor'

export interface PredictionLimits extends DecodeLimits {
  /** Rows one request may carry, whatever the model allows. */
  maxRows: number
}

export interface PredictionResult {
  predictions: unknown[]
  rows: number
  /** Time spent in the inference pool, queueing included. */
  inferenceMs: number
}

function checkRows (model: ModelVersion, feeds: TensorMap, field: string, limits: PredictionLimits): number {
  const rows = Object.values(feeds)[0].dims[0]
  const modelMax = model.config.max_batch_size ?? 0
  const max = modelMax > 0 ? Math.min(modelMax, limits.maxRows) : limits.maxRows
  if (rows > max) {
    throw new InputError(field, `${field}: at most ${max} ${max === 1 ? 'row' : 'rows'} per request for model '${model.name}', received ${rows}`)
  }
  return rows
}

function isIntegerType (type: string): boolean {
  return /^u?int(8|16|32|64)$/.test(type)
}

/** Replaces class indices with the configured class names; other values pass through. */
function applyLabels (value: unknown, labels: readonly string[]): unknown {
  if (Array.isArray(value)) return value.map(item => applyLabels(item, labels))
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < labels.length ? labels[value] : value
}

/** `/predict`: `input_data` is one row or an array of rows; one prediction per row. */
export async function predictOutput (manager: ModelManager, model: ModelVersion, inputData: unknown, limits: PredictionLimits): Promise<PredictionResult> {
  const feeds = decodeRowOrRows(inputData, model.inputs, 'input_data', limits)
  const rows = checkRows(model, feeds, 'input_data', limits)
  const { outputs, ms } = await manager.run(model, feeds, [model.predictionOutput])
  let predictions = tensorToRows(outputs[model.predictionOutput], model.predictionOutput)
  const labels = model.config.labels
  const spec = model.outputs.find(output => output.name === model.predictionOutput)
  if (labels !== undefined && spec !== undefined && isIntegerType(spec.type)) {
    predictions = predictions.map(value => applyLabels(value, labels))
  }
  return { predictions, rows, inferenceMs: ms }
}

/** TF Serving's row format: `instances` in, `predictions` out, every tensor output. */
export async function predictInstances (manager: ModelManager, model: ModelVersion, instances: unknown[], limits: PredictionLimits): Promise<PredictionResult> {
  const feeds = decodeRows(instances, model.inputs, { field: 'instances', limits })
  const rows = checkRows(model, feeds, 'instances', limits)
  const { outputs, ms } = await manager.run(model, feeds)
  return { predictions: encodePredictions(outputs, rows), rows, inferenceMs: ms }
}
