// An inference request of the Open Inference Protocol, checked against the
// model it is for: the request's structure was checked by its schema
// (wire.ts) by the transport that read it; here are the checks only the
// model can make (input names, datatypes, shapes, element values, requested
// outputs), each refusal naming the field, what was expected and what was
// received. Shared by every transport: a tensor comes as JSON `data`, or as
// raw bytes (the binary tensor data extension over HTTP, raw contents over gRPC).

import { InputError } from '../../errors'
import { elementCount, formatShape, type TensorArray, type TensorMap, type TensorSpec } from '../../tensors/tensor'
import { ElementBudget, JsonTensorReader } from '../../tensors/tensor-json'
import { decodeBinaryTensor } from './binary-tensors'
import { tensorTypeOfV2, v2DatatypeOf, v2ElementSize } from './datatypes'
import type { InferInput, InferRequest, RequestedOutputRequest } from './wire'

/** What a request is checked against: the model's inputs and outputs. */
export interface V2Model {
  inputs: TensorSpec[]
  outputs: TensorSpec[]
}

export interface V2Limits {
  /** Elements one request may carry across all its inputs. */
  maxElements: number
}

export interface RequestedOutput {
  name: string
  /** Return the output as binary data after the JSON rather than as JSON `data`. */
  binary: boolean
}

export interface DecodedInferRequest {
  id?: string
  feeds: TensorMap
  /** The outputs to fetch and return, in the order the response lists them. */
  outputs: RequestedOutput[]
  /** The request's top-level `parameters`, `{}` when absent. */
  parameters: Record<string, unknown>
}

/** Each input's raw bytes, by its index in the request's `inputs`; undefined for an input sent as JSON `data`. */
export type RawInputs = ReadonlyArray<Buffer | undefined>

/** Where a transport carries input i's elements, as refusals name them. */
export interface TensorFields {
  /** Its listed elements: `inputs[i].data` over HTTP. */
  values: (i: number) => string
  /** Its raw bytes, by what gives their size: `inputs[i].parameters.binary_data_size` over HTTP. */
  raw: (i: number) => string
  /** The same, said in a message about input i's bytes: `parameters.binary_data_size` over HTTP. */
  rawLabel: (i: number) => string
}

/** HTTP's: JSON `data`, or the binary tensor data extension. */
const HTTP_TENSOR_FIELDS: TensorFields = {
  values: i => `inputs[${i}].data`,
  raw: i => `inputs[${i}].parameters.binary_data_size`,
  rawLabel: () => 'parameters.binary_data_size'
}

/** A client-supplied name or datatype for a message, quoted and cut short. */
export function quote (text: string): string {
  return `'${text.length > 64 ? `${text.slice(0, 64)}…` : text}'`
}

function names (specs: readonly TensorSpec[]): string {
  return specs.map(spec => spec.name).join(', ')
}

/** How a model's tensor reads in messages: `FP32 [-1, 4]`. */
function describeSpec (spec: TensorSpec): string {
  return `${v2DatatypeOf(spec.type)} ${formatShape(spec.shape)}`
}

/** Extensions of Triton's we do not offer: refuse them rather than answer something else. */
function refuseUnsupported (parameters: Record<string, unknown> | undefined, keys: readonly string[], field: string): void {
  for (const key of keys) {
    if (parameters?.[key] !== undefined) {
      throw new InputError(`${field}.${key}`, `${field}.${key}: not supported by this server; remove the parameter`)
    }
  }
}

function checkShape (shape: number[], spec: TensorSpec, field: string): void {
  const shapeField = `${field}.shape`
  if (shape.length !== spec.shape.length) {
    throw new InputError(shapeField, `${shapeField}: expected a shape matching ${formatShape(spec.shape)} (-1: any size) for input '${spec.name}', of rank ${spec.shape.length}, received ${formatShape(shape)} of rank ${shape.length}`)
  }
  spec.shape.forEach((want, i) => {
    if (want >= 0 && shape[i] !== want) {
      throw new InputError(`${shapeField}[${i}]`, `${shapeField}[${i}]: expected ${want} (model shape ${formatShape(spec.shape)} of input '${spec.name}'), received ${shape[i]}`)
    }
  })
}

/** The tensor from flat or nested JSON values, every element checked. */
function decodeJsonData (value: unknown[], spec: TensorSpec, shape: number[], count: number, dataField: string): TensorArray {
  const datatype = v2DatatypeOf(spec.type)
  const nested = shape.length > 0 && Array.isArray(value[0])
  if (!nested && value.length !== count) {
    throw new InputError(dataField, `${dataField}: expected ${count} ${datatype} values for shape ${formatShape(shape)}, received an array of ${value.length}`)
  }
  // The shape was charged to the request's budget already.
  const reader = new JsonTensorReader(spec.type, nested ? [...shape] : [count], () => `shape ${formatShape(shape)} of ${datatype}`, new ElementBudget(Infinity))
  reader.read(value, dataField)
  return reader.toArray()
}

/** One input's elements, from its raw bytes or its JSON `data`. */
function decodeInput (input: InferInput, raw: Buffer | undefined, spec: TensorSpec, count: number, i: number, fields: TensorFields): TensorArray {
  const field = `inputs[${i}]`
  const datatype = v2DatatypeOf(spec.type)
  if (raw === undefined) {
    if (input.data === undefined) {
      throw new InputError(`${field}.data`, `${field}.data: missing; expected ${count} ${datatype} values for shape ${formatShape(input.shape)}, or parameters.binary_data_size with the tensor in the binary part of the body`)
    }
    return decodeJsonData(input.data, spec, input.shape, count, fields.values(i))
  }
  if (input.data !== undefined) {
    throw new InputError(field, `${field}: expected data or parameters.binary_data_size, received both; send the tensor one way`)
  }
  const elementSize = v2ElementSize(spec.type)
  if (elementSize !== undefined && raw.length !== count * elementSize) {
    const sizeField = fields.raw(i)
    throw new InputError(sizeField, `${sizeField}: expected ${count * elementSize} bytes (shape ${formatShape(input.shape)} of ${datatype}, ${elementSize} ${elementSize === 1 ? 'byte' : 'bytes'} each), received ${raw.length}`)
  }
  return decodeBinaryTensor(raw, spec, count, field, fields.rawLabel(i))
}

function decodeRequestedOutputs (value: RequestedOutputRequest[] | undefined, model: V2Model, binaryDefault: boolean): RequestedOutput[] {
  if (value === undefined || value.length === 0) return model.outputs.map(spec => ({ name: spec.name, binary: binaryDefault }))
  const known = new Set(model.outputs.map(spec => spec.name))
  const seen = new Set<string>()
  const unknown: string[] = []
  const requested = value.map(({ name, parameters }, i) => {
    const field = `outputs[${i}]`
    if (seen.has(name)) throw new InputError(`${field}.name`, `${field}.name: output ${quote(name)} is requested more than once`)
    seen.add(name)
    if (!known.has(name)) unknown.push(quote(name))
    refuseUnsupported(parameters, ['classification', 'shared_memory_region'], `${field}.parameters`)
    return { name, binary: parameters?.binary_data ?? binaryDefault }
  })
  if (unknown.length > 0) {
    throw new InputError('outputs', `outputs: the model has no output ${unknown.join(', ')}; its outputs are ${names(model.outputs)}`)
  }
  return requested
}

/**
 * The feeds (in the model's input order) and requested outputs of a request
 * whose structure its schema has checked; `raw` holds the inputs sent as
 * bytes; `fields` names where the transport carries them.
 */
export function decodeInferRequest (request: InferRequest, raw: RawInputs, model: V2Model, limits: V2Limits, fields = HTTP_TENSOR_FIELDS): DecodedInferRequest {
  const specs = new Map(model.inputs.map(spec => [spec.name, spec]))
  const firstSeen = new Map<string, string>()
  const feeds: TensorMap = {}
  const budget = new ElementBudget(limits.maxElements)
  request.inputs.forEach((input, i) => {
    const field = `inputs[${i}]`
    const { name } = input
    const spec = specs.get(name)
    if (spec === undefined) {
      throw new InputError(`${field}.name`, `${field}.name: unknown input ${quote(name)}; the model's inputs are ${names(model.inputs)}`)
    }
    const first = firstSeen.get(name)
    if (first !== undefined) {
      throw new InputError(`${field}.name`, `${field}.name: input '${name}' is given more than once (also ${first})`)
    }
    firstSeen.set(name, field)
    const datatype = v2DatatypeOf(spec.type)
    if (input.datatype !== datatype) {
      const received = tensorTypeOfV2(input.datatype) === undefined ? `${quote(input.datatype)} (not a v2 datatype)` : input.datatype
      throw new InputError(`${field}.datatype`, `${field}.datatype: expected ${datatype} for input '${name}', received ${received}`)
    }
    checkShape(input.shape, spec, field)
    budget.takeShape(input.shape, `${field}.shape`)
    refuseUnsupported(input.parameters, ['shared_memory_region'], `${field}.parameters`)
    const count = elementCount(input.shape)
    feeds[name] = { type: spec.type, dims: input.shape, data: decodeInput(input, raw[i], spec, count, i, fields) }
  })

  const missing = model.inputs.filter(spec => !firstSeen.has(spec.name))
  if (missing.length > 0) {
    throw new InputError('inputs', `inputs: missing ${missing.map(spec => `'${spec.name}' (${describeSpec(spec)})`).join(', ')}; the model's inputs are ${names(model.inputs)}`)
  }
  // The model's order, whatever the request's.
  const ordered: TensorMap = {}
  for (const spec of model.inputs) ordered[spec.name] = feeds[spec.name]
  const parameters = request.parameters ?? {}
  const outputs = decodeRequestedOutputs(request.outputs, model, request.parameters?.binary_data_output ?? false)
  return { ...(request.id === undefined ? {} : { id: request.id }), feeds: ordered, outputs, parameters }
}
