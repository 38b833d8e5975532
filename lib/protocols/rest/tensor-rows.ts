// JSON rows in, tensors out, and back: every value is checked against the
// model's own shapes and types before onnxruntime sees it, and a refusal
// names the field, what was expected and what was received.

import { InputError } from '../../errors'
import { formatShape, type TensorMap, type TensorSpec } from '../../tensors/tensor'
import { describeValue, isPlainObject } from '../../json/values'
import { ElementBudget, JsonTensorReader, rowsJson } from '../../tensors/tensor-json'

export interface DecodeLimits {
  /** Elements one request may carry across all its inputs. */
  maxElements: number
}

export const defaultLimits: DecodeLimits = { maxElements: 1_000_000 }

/** The batch dimension must be there, and when fixed it must match the rows sent. */
function checkBatchDimension (spec: TensorSpec, rows: number, field: string): void {
  if (spec.shape.length === 0) {
    throw new InputError(field, `${field}: model input '${spec.name}' is a scalar with no batch dimension; send it through the v2 infer API`)
  }
  const batch = spec.shape[0]
  if (batch >= 0 && batch !== rows) {
    throw new InputError(field, `${field}: model input '${spec.name}' has a fixed batch dimension of ${batch} (shape ${formatShape(spec.shape)}), received ${rows} ${rows === 1 ? 'row' : 'rows'}`)
  }
}

export interface RowsOptions {
  /** The request field holding the rows, for messages: `instances`, `input_data`. */
  field: string
  /** The field holds one row rather than an array of rows. */
  single?: boolean
  limits?: DecodeLimits
}

/**
 * Turns rows (TF Serving's `instances`) into one tensor per input. With one
 * input a row is that input's value, or an object keyed by its name; with
 * several inputs a row must be an object keyed by input name.
 */
export function decodeRows (rows: readonly unknown[], inputs: readonly TensorSpec[], options: RowsOptions): TensorMap {
  const { field, single = false, limits = defaultLimits } = options
  if (rows.length === 0) throw new InputError(field, `${field}: expected at least one row, received none`)
  const budget = new ElementBudget(limits.maxElements)
  const readers = inputs.map(spec => {
    checkBatchDimension(spec, rows.length, field)
    const dims = spec.shape.slice(1)
    return new JsonTensorReader(spec.type, dims, () => `row shape ${formatShape(dims)} of ${spec.type}`, budget)
  })
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]
    const rowField = single ? field : `${field}[${r}]`
    if (inputs.length === 1 && !isPlainObject(row)) {
      readers[0].read(row, rowField)
      continue
    }
    const values = byInputName(row, inputs, rowField, spec => `row shape ${formatShape(spec.shape.slice(1))} of ${spec.type}`)
    inputs.forEach((spec, i) => readers[i].read(values[i], `${rowField}.${spec.name}`))
  }
  const tensors: TensorMap = {}
  inputs.forEach((spec, i) => { tensors[spec.name] = { type: spec.type, dims: [rows.length, ...readers[i].dims], data: readers[i].toArray() } })
  return tensors
}

/**
 * The value of every input in an object keyed by input name, in the
 * model's order; unknown and missing names are refused.
 */
function byInputName (value: unknown, inputs: readonly TensorSpec[], field: string, expected: (spec: TensorSpec) => string): unknown[] {
  const names = inputs.map(spec => spec.name)
  if (!isPlainObject(value)) {
    throw new InputError(field, `${field}: expected an object keyed by input name (${names.join(', ')}), received ${describeValue(value)}`)
  }
  for (const key of Object.keys(value)) {
    if (!names.includes(key)) {
      throw new InputError(`${field}.${key}`, `${field}: unknown input '${key}'; the model's inputs are ${names.join(', ')}`)
    }
  }
  return inputs.map(spec => {
    const inputField = `${field}.${spec.name}`
    if (!Object.hasOwn(value, spec.name)) throw new InputError(inputField, `${inputField}: missing; expected ${expected(spec)}`)
    return value[spec.name]
  })
}

/**
 * TF Serving's columnar `inputs`: with one input its whole batch (or an
 * object keyed by its name), with several an object keyed by input name;
 * each value nested to the input's shape, batch dimension first.
 */
export function decodeColumns (value: unknown, inputs: readonly TensorSpec[], field: string, limits: DecodeLimits = defaultLimits): TensorMap {
  const describe = (spec: TensorSpec): string => `shape ${formatShape(spec.shape)} of ${spec.type}`
  const values = inputs.length === 1 && !isPlainObject(value) ? [value] : byInputName(value, inputs, field, describe)
  const budget = new ElementBudget(limits.maxElements)
  const tensors: TensorMap = {}
  inputs.forEach((spec, i) => {
    const reader = new JsonTensorReader(spec.type, [...spec.shape], () => describe(spec), budget)
    reader.read(values[i], inputs.length === 1 && values[i] === value ? field : `${field}.${spec.name}`)
    tensors[spec.name] = { type: spec.type, dims: reader.dims, data: reader.toArray() }
  })
  return tensors
}

/** Depth of nested arrays along the first elements: 0 for a scalar. */
function arrayDepth (value: unknown): number {
  let depth = 0
  while (Array.isArray(value)) {
    depth++
    value = value[0]
  }
  return depth
}

/**
 * `/predict`'s `input_data`: one row or an array of rows. For one input the
 * nesting depth tells them apart; for several, an object is one row.
 */
export function decodeRowOrRows (
  value: unknown,
  inputs: readonly TensorSpec[],
  field: string,
  limits: DecodeLimits = defaultLimits
): TensorMap {
  const rank = inputs[0].shape.length
  const many = Array.isArray(value) &&
    (inputs.length > 1 || isPlainObject(value[0]) || arrayDepth(value) === rank)
  if (inputs.length === 1 && !many && !isPlainObject(value) && arrayDepth(value) !== rank - 1) {
    const spec = inputs[0]
    throw new InputError(field, `${field}: expected a row of shape ${formatShape(spec.shape.slice(1))} or rows of shape ${formatShape(spec.shape)} of ${spec.type} for input '${spec.name}', received ${describeValue(value)}`)
  }
  return many
    ? decodeRows(value as unknown[], inputs, { field, limits })
    : decodeRows([value], inputs, { field, limits, single: true })
}

/**
 * TF Serving's `predictions`: per row the output's value, or with several
 * outputs an object keyed by output name.
 */
export function encodePredictions (outputs: TensorMap, rows: number): unknown[] {
  const names = Object.keys(outputs)
  const columns = names.map(name => {
    const values = rowsJson(outputs[name], name)
    if (values.length !== rows) throw new Error(`output '${name}' has ${values.length} rows for ${rows} input rows`)
    return values
  })
  if (names.length === 1) return columns[0]
  return Array.from({ length: rows }, (_, r) => Object.fromEntries(names.map((name, i) => [name, columns[i][r]])))
}
