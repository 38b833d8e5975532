// The rows of a request, as every protocol counts them: the batch size its
// inputs agree on, within the model's max_batch_size and MAX_ROWS (Triton
// refuses a batch above max_batch_size with 400).

import { InputError } from '../errors'
import { hasBatchDimension, type ModelVersion } from '../models/version'
import type { TensorMap } from '../tensors/tensor'

export interface BatchRowsOptions {
  /** The request field the rows came in, for messages. */
  field: string
  /** The framing sends rows: the first dimension is the batch whatever the model says. */
  rows: boolean
  /** MAX_ROWS. */
  maxRows: number
}

/**
 * A model has a batch dimension when config.json gives max_batch_size, or
 * when the first dimension of every input is dynamic; otherwise a v2
 * request is one row (a row framing's rows are its batch, whatever the model says).
 */
export function batchRows (model: Pick<ModelVersion, 'name' | 'config' | 'inputs'>, feeds: TensorMap, { field, rows: framedAsRows, maxRows }: BatchRowsOptions): number {
  if (!framedAsRows && !hasBatchDimension(model)) return 1
  const sizes = model.inputs.map(spec => ({ name: spec.name, rows: feeds[spec.name]?.dims[0] ?? 0 }))
  const rows = sizes[0].rows
  const other = sizes.find(size => size.rows !== rows)
  if (other !== undefined) {
    throw new InputError(field, `${field}: every input must carry the same number of rows (batch size); '${sizes[0].name}' has ${rows}, '${other.name}' has ${other.rows}`)
  }
  const modelMax = model.config.max_batch_size ?? 0
  const max = modelMax > 0 ? Math.min(modelMax, maxRows) : maxRows
  if (rows > max) {
    throw new InputError(field, `${field}: at most ${max} ${max === 1 ? 'row' : 'rows'} per request for model '${model.name}', received ${rows}`)
  }
  return rows
}
