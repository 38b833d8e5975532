// The classic `/predict`: `input_data` is one row or an array of rows of the
// default model; the answer is one prediction per row of its prediction
// output, with class names where config.json gives labels.

import type { InferCodec } from '../../data-plane/infer-codec'
import { isIntegerType } from '../../tensors/tensor'
import { rowsJson } from '../../tensors/tensor-json'
import { decodeRowOrRows } from './tensor-rows'
import type { PredictRequest, PredictResponse } from './wire'

/** Replaces class indices with the configured class names; other values pass through. */
function applyLabels (value: unknown, labels: readonly string[]): unknown {
  if (Array.isArray(value)) return value.map(item => applyLabels(item, labels))
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < labels.length ? labels[value] : value
}

export const predict: InferCodec<PredictRequest, PredictResponse> = (body, model, limits) => {
  const output = model.predictionOutput
  return {
    feeds: decodeRowOrRows(body.input_data, model.inputs, 'input_data', limits),
    fetches: [output],
    field: 'input_data',
    rows: true,
    reply: outputs => {
      const predictions = rowsJson(outputs[output], output)
      const labels = model.config.labels
      const spec = model.outputs.find(candidate => candidate.name === output)
      const labelled = labels !== undefined && spec !== undefined && isIntegerType(spec.type)
      return { prediction: labelled ? predictions.map(value => applyLabels(value, labels)) : predictions }
    }
  }
}
