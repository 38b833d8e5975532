// The row- and column-oriented framings over the inference service:
// `/predict` (one output, class names for labels), and the REST protocol of
// TF Serving and KServe V1 (`instances` → `predictions`, or columnar
// `inputs` → `outputs`).

import { InputError } from '../../errors'
import type { InferenceLog, InferenceService } from '../../data-plane/data-plane'
import type { ModelVersion } from '../../models/manager'
import type { TensorSpec } from '../../tensors/tensor'
import { decodeColumns, decodeRowOrRows, decodeRows, encodePredictions } from './tensor-rows'
import { nestedJson, rowsJson } from '../../tensors/tensor-json'

export interface Framed<Reply> {
  reply: Reply
  log: InferenceLog
}

function isIntegerType (spec: TensorSpec | undefined): boolean {
  return spec !== undefined && /^u?int(8|16|32|64)$/.test(spec.type)
}

/** Replaces class indices with the configured class names; other values pass through. */
function applyLabels (value: unknown, labels: readonly string[]): unknown {
  if (Array.isArray(value)) return value.map(item => applyLabels(item, labels))
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < labels.length ? labels[value] : value
}

/** `/predict`: `input_data` is one row or an array of rows; one prediction per row of the model's prediction output. */
export async function predictOutput (service: InferenceService, model: ModelVersion, inputData: unknown): Promise<Framed<{ prediction: unknown[] }>> {
  const feeds = decodeRowOrRows(inputData, model.inputs, 'input_data', service.limits)
  const output = model.predictionOutput
  const { outputs, log } = await service.run(model, feeds, { fetches: [output], field: 'input_data', rows: true })
  const predictions = rowsJson(outputs[output], output)
  const labels = model.config.labels
  const labelled = labels !== undefined && isIntegerType(model.outputs.find(spec => spec.name === output))
  return { reply: { prediction: labelled ? predictions.map(value => applyLabels(value, labels)) : predictions }, log }
}

export interface TfServingRequest {
  instances?: unknown[]
  inputs?: unknown
  signature_name?: string
}

export type TfServingReply = { predictions: unknown[] } | { outputs: unknown }

/**
 * TF Serving's and KServe V1's predict: rows in `instances` give
 * `predictions` (per row the output, or an object keyed by output name);
 * columns in `inputs` (one input's batch, or an object keyed by input name)
 * give `outputs` in the same form.
 */
export async function predictTfServing (service: InferenceService, model: ModelVersion, body: TfServingRequest): Promise<Framed<TfServingReply>> {
  if (body.signature_name !== undefined && body.signature_name !== 'serving_default') {
    throw new InputError('signature_name', `signature_name: expected 'serving_default' (an ONNX model has one signature), received '${body.signature_name.slice(0, 64)}'`)
  }
  if ((body.instances === undefined) === (body.inputs === undefined)) {
    throw new InputError('body', 'body: expected either instances (rows) or inputs (columns), not both and not neither')
  }
  if (body.instances !== undefined) {
    const feeds = decodeRows(body.instances, model.inputs, { field: 'instances', limits: service.limits })
    const { outputs, log } = await service.run(model, feeds, { field: 'instances', rows: true })
    return { reply: { predictions: encodePredictions(outputs, log.rows) }, log }
  }
  const feeds = decodeColumns(body.inputs, model.inputs, 'inputs', service.limits)
  const { outputs, log } = await service.run(model, feeds, { field: 'inputs', rows: true })
  const names = Object.keys(outputs)
  const columns = names.length === 1 ? nestedJson(outputs[names[0]]) : Object.fromEntries(names.map(name => [name, nestedJson(outputs[name])]))
  return { reply: { outputs: columns }, log }
}
