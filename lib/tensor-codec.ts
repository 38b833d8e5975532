// JSON rows in, tensors out, and back: every value is checked against the
// model's own shapes and types before onnxruntime sees it, and a refusal
// names the field, what was expected and what was received.

import { InputError } from './errors'
import {
  elementCount, elementToJson, formatShape, tensorTypes,
  type TensorData, type TensorMap, type TensorSpec, type TensorType
} from './tensor'

export interface DecodeLimits {
  /** Elements one request may carry across all its inputs. */
  maxElements: number
}

export const defaultLimits: DecodeLimits = { maxElements: 1_000_000 }

/** A short, safe description of a JSON value for error messages. */
export function describeValue (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return `an array of ${value.length}`
  if (typeof value === 'object') return 'an object'
  if (typeof value === 'string') return 'a string'
  if (typeof value === 'number') return `the number ${value}`
  return `a ${typeof value}`
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

class Flattener {
  readonly values: unknown[] = []

  constructor (
    readonly type: TensorType,
    /** Per-row shape; a -1 is fixed by the first row that reaches it. */
    readonly dims: number[],
    readonly budget: { left: number, max: number }
  ) {}

  add (value: unknown, field: string, depth = 0): void {
    if (depth === this.dims.length) {
      const problem = tensorTypes[this.type].check(value)
      if (problem !== undefined) {
        throw new InputError(field, `${field}: expected ${problem}, received ${describeValue(value)}`)
      }
      if (--this.budget.left < 0) {
        throw new InputError(field, `${field}: too many elements; a request may carry at most ${this.budget.max} tensor elements (MAX_TENSOR_ELEMENTS), received more`)
      }
      this.values.push(value)
      return
    }
    const want = this.dims[depth]
    if (!Array.isArray(value)) {
      const size = want < 0 ? 'an array' : `an array of ${want}`
      throw new InputError(field, `${field}: expected ${size} (row shape ${formatShape(this.dims)} of ${this.type}), received ${describeValue(value)}`)
    }
    if (want < 0) this.dims[depth] = value.length
    else if (value.length !== want) {
      throw new InputError(field, `${field}: expected an array of ${want} (row shape ${formatShape(this.dims)} of ${this.type}), received ${describeValue(value)}`)
    }
    for (let i = 0; i < value.length; i++) this.add(value[i], `${field}[${i}]`, depth + 1)
  }

  toTensor (rows: number): TensorData {
    const info = tensorTypes[this.type]
    const data = info.create(this.values.length)
    for (let i = 0; i < this.values.length; i++) data[i] = info.toElement(this.values[i]) as never
    return { type: this.type, dims: [rows, ...this.dims], data }
  }
}

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
  const budget = { left: limits.maxElements, max: limits.maxElements }
  const flatteners = inputs.map(spec => {
    checkBatchDimension(spec, rows.length, field)
    return new Flattener(spec.type, spec.shape.slice(1), budget)
  })
  const names = inputs.map(spec => spec.name)
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]
    const rowField = single ? field : `${field}[${r}]`
    if (inputs.length === 1 && !isPlainObject(row)) {
      flatteners[0].add(row, rowField)
      continue
    }
    if (!isPlainObject(row)) {
      throw new InputError(rowField, `${rowField}: expected an object keyed by input name (${names.join(', ')}), received ${describeValue(row)}`)
    }
    for (const key of Object.keys(row)) {
      if (!names.includes(key)) {
        throw new InputError(`${rowField}.${key}`, `${rowField}: unknown input '${key}'; the model's inputs are ${names.join(', ')}`)
      }
    }
    inputs.forEach((spec, i) => {
      const inputField = `${rowField}.${spec.name}`
      if (!Object.hasOwn(row, spec.name)) {
        throw new InputError(inputField, `${inputField}: missing; expected row shape ${formatShape(spec.shape.slice(1))} of ${spec.type}`)
      }
      flatteners[i].add(row[spec.name], inputField)
    })
  }
  const tensors: TensorMap = {}
  inputs.forEach((spec, i) => { tensors[spec.name] = flatteners[i].toTensor(rows.length) })
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

function nest (tensor: TensorData, offset: number, depth: number): unknown {
  if (depth === tensor.dims.length) {
    return elementToJson(tensor.type, tensor.data[offset])
  }
  const stride = elementCount(tensor.dims.slice(depth + 1))
  const out = new Array<unknown>(tensor.dims[depth])
  for (let i = 0; i < out.length; i++) out[i] = nest(tensor, offset + i * stride, depth + 1)
  return out
}

/** The whole tensor as nested JSON arrays. */
export function tensorToNested (tensor: TensorData): unknown {
  return nest(tensor, 0, 0)
}

/** The tensor's first dimension as one JSON value per row. */
export function tensorToRows (tensor: TensorData, name: string): unknown[] {
  if (tensor.dims.length === 0) throw new Error(`output '${name}' is a scalar, not one value per row`)
  return nest(tensor, 0, 0) as unknown[]
}

/**
 * TF Serving's `predictions`: per row the output's value, or with several
 * outputs an object keyed by output name.
 */
export function encodePredictions (outputs: TensorMap, rows: number): unknown[] {
  const names = Object.keys(outputs)
  const columns = names.map(name => {
    const values = tensorToRows(outputs[name], name)
    if (values.length !== rows) throw new Error(`output '${name}' has ${values.length} rows for ${rows} input rows`)
    return values
  })
  if (names.length === 1) return columns[0]
  return Array.from({ length: rows }, (_, r) => Object.fromEntries(names.map((name, i) => [name, columns[i][r]])))
}
