// The one tensor core under every JSON framing (/predict rows, TF Serving
// instances and columns, v2 `data`): nested JSON arrays become the flat
// elements of a tensor, each element checked against the model's type, every
// request within one element budget; and tensors become JSON again. Each
// refusal names the field, what was expected and what was received.

import { InputError } from '../errors'
import { describeValue } from '../json/values'
import { elementCount, elementToJson, formatShape, tensorTypes, type TensorArray, type TensorData, type TensorType } from './tensor'

/** The tensor elements one request may carry across all its inputs (MAX_TENSOR_ELEMENTS). */
export class ElementBudget {
  #used = 0

  constructor (readonly max: number) {}

  /** Counts `count` more elements; past the budget, a refusal naming `field`. */
  take (count: number, field: string): void {
    this.#used += count
    if (this.#used > this.max) this.#refuse(field, 'more')
  }

  /**
   * Counts the elements of a shape a client declared. No dimension may
   * exceed the budget either: [0, 2^32] holds no element, yet the runtime
   * cannot represent it.
   */
  takeShape (shape: readonly number[], field: string): void {
    this.#used += elementCount(shape)
    if (this.#used > this.max) this.#refuse(field, `${this.#used} with shape ${formatShape(shape)}`)
    const huge = shape.findIndex(dim => dim > this.max)
    if (huge >= 0) {
      throw new InputError(`${field}[${huge}]`, `${field}[${huge}]: expected at most ${this.max} (MAX_TENSOR_ELEMENTS) for any dimension, received ${shape[huge]} in shape ${formatShape(shape)}`)
    }
  }

  /** Elements still allowed. */
  get remaining (): number {
    return Math.max(0, this.max - this.#used)
  }

  #refuse (field: string, received: string): never {
    throw new InputError(field, `${field}: expected at most ${this.max} tensor elements in all inputs (MAX_TENSOR_ELEMENTS), received ${received}`)
  }
}

/**
 * Reads nested JSON arrays into one tensor's elements. `dims` are the sizes
 * of the nesting levels; a -1 is fixed by the first array that reaches it,
 * so later rows must match the first.
 */
export class JsonTensorReader {
  readonly #elements: Array<number | bigint | string> = []

  constructor (
    readonly type: TensorType,
    readonly dims: number[],
    /** How the expected shape reads in messages: "row shape [4] of float32". */
    readonly describe: () => string,
    readonly budget: ElementBudget
  ) {}

  get count (): number {
    return this.#elements.length
  }

  read (value: unknown, field: string, depth = 0): void {
    if (depth === this.dims.length) {
      const info = tensorTypes[this.type]
      const problem = info.check(value)
      if (problem !== undefined) throw new InputError(field, `${field}: expected ${problem}, received ${describeValue(value)}`)
      this.budget.take(1, field)
      this.#elements.push(info.toElement(value))
      return
    }
    const want = this.dims[depth]
    if (!Array.isArray(value) || (want >= 0 && value.length !== want)) {
      const size = want < 0 ? 'an array' : `an array of ${want}`
      throw new InputError(field, `${field}: expected ${size} (${this.describe()}), received ${describeValue(value)}`)
    }
    if (want < 0) this.dims[depth] = value.length
    if (depth === this.dims.length - 1) this.#readElements(value, field)
    else for (let i = 0; i < value.length; i++) this.read(value[i], `${field}[${i}]`, depth + 1)
  }

  // The innermost arrays hold nearly every element: one loop, no field name
  // built unless an element is refused (the same refusals, in the same order,
  // as reading each element on its own).
  #readElements (values: unknown[], field: string): void {
    const info = tensorTypes[this.type]
    const room = this.budget.remaining
    for (let i = 0; i < values.length; i++) {
      if (i === room) this.budget.take(room + 1, `${field}[${i}]`)
      const problem = info.check(values[i])
      if (problem !== undefined) throw new InputError(`${field}[${i}]`, `${field}[${i}]: expected ${problem}, received ${describeValue(values[i])}`)
      this.#elements.push(info.toElement(values[i]))
    }
    this.budget.take(values.length, field)
  }

  /** The elements read, in a typed array of the tensor's type. */
  toArray (): TensorArray {
    const data = tensorTypes[this.type].create(this.#elements.length)
    for (let i = 0; i < this.#elements.length; i++) data[i] = this.#elements[i] as never
    return data
  }
}

/** The tensor's elements as a flat, row-major JSON array. */
export function flatJson (tensor: TensorData): unknown[] {
  const { type, data } = tensor
  const out = new Array<unknown>(data.length)
  if (type === 'bool' || type === 'float16' || type === 'int64' || type === 'uint64') {
    for (let i = 0; i < data.length; i++) out[i] = elementToJson(type, data[i])
  } else {
    // A loop, not Array.from: 22 ns against 400 for ten floats (Array.from
    // walks a typed array through its iterator).
    for (let i = 0; i < data.length; i++) out[i] = data[i]
  }
  return out
}

/** The tensor as nested JSON arrays, one level per dimension. */
export function nestedJson (tensor: TensorData): unknown {
  const flat = flatJson(tensor)
  const nest = (offset: number, depth: number, stride: number): unknown => {
    if (depth === tensor.dims.length) return flat[offset]
    const inner = stride / Math.max(1, tensor.dims[depth])
    const out = new Array<unknown>(tensor.dims[depth])
    for (let i = 0; i < out.length; i++) out[i] = nest(offset + i * inner, depth + 1, inner)
    return out
  }
  return nest(0, 0, flat.length)
}

/** The tensor's first dimension as one JSON value per row. */
export function rowsJson (tensor: TensorData, name: string): unknown[] {
  if (tensor.dims.length === 0) throw new Error(`output '${name}' is a scalar, not one value per row`)
  return nestedJson(tensor) as unknown[]
}
