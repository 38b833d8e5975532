// The REST predict of TF Serving and KServe V1: rows in `instances` give
// `predictions` (per row the output, or an object keyed by output name);
// columns in `inputs` (one input's batch, or an object keyed by input name)
// give `outputs` in the same form.

import { InputError } from '../../errors'
import type { InferCodec } from '../../data-plane/infer-codec'
import { nestedJson } from '../../tensors/tensor-json'
import { decodeColumns, decodeRows, encodePredictions } from './tensor-rows'
import type { TfServingRequest, TfServingResponse } from './wire'

export const tfServingPredict: InferCodec<TfServingRequest, TfServingResponse> = (body, model, limits) => {
  if (body.signature_name !== undefined && body.signature_name !== 'serving_default') {
    throw new InputError('signature_name', `signature_name: expected 'serving_default' (an ONNX model has one signature), received '${body.signature_name.slice(0, 64)}'`)
  }
  if ((body.instances === undefined) === (body.inputs === undefined)) {
    throw new InputError('body', 'body: expected either instances (rows) or inputs (columns), not both and not neither')
  }
  if (body.instances !== undefined) {
    return {
      feeds: decodeRows(body.instances, model.inputs, { field: 'instances', limits }),
      field: 'instances',
      rows: true,
      reply: (outputs, record) => ({ predictions: encodePredictions(outputs, record.rows) })
    }
  }
  return {
    feeds: decodeColumns(body.inputs, model.inputs, 'inputs', limits),
    field: 'inputs',
    rows: true,
    reply: outputs => {
      const names = Object.keys(outputs)
      return { outputs: names.length === 1 ? nestedJson(outputs[names[0]]) : Object.fromEntries(names.map(name => [name, nestedJson(outputs[name])])) }
    }
  }
}
