// The KServe Open Inference Protocol v2 infer request and response (the
// protocol of Triton, KServe and MLServer), with Triton's binary tensor data
// extension: a JSON header, its length in the Inference-Header-Content-Length
// header, followed by the raw tensors of the inputs (or outputs) whose
// parameters carry `binary_data_size`, in the order of the JSON's array.
//
// Every value is checked against the model's own inputs before onnxruntime
// sees it, and a refusal names the field, what was expected and what was
// received.
//
// Binary tensors are little-endian; they are copied byte for byte into typed
// arrays, which use the platform's order: onnxruntime-node only ships for
// little-endian platforms (x64, arm64).

import { InputError } from '../../errors'
import type { InferenceLog, InferenceService } from '../../data-plane/data-plane'
import type { ModelVersion } from '../../models/manager'
import {
  NUL_PROBLEM, elementCount, formatShape, tensorTypes,
  type TensorArray, type TensorData, type TensorMap, type TensorSpec, type TensorType
} from '../../tensors/tensor'
import { ElementBudget, JsonTensorReader, describeValue, flatJson, isPlainObject } from '../../tensors/tensor-json'

/** The request header that gives the length of the JSON part of a body with binary tensors. */
export const HEADER_LENGTH_HEADER = 'inference-header-content-length'
const HEADER_FIELD = `headers.${HEADER_LENGTH_HEADER}`

const typesByDatatype = new Map<string, TensorType>(
  (Object.keys(tensorTypes) as TensorType[]).map(type => [tensorTypes[type].datatype, type])
)

/** The v2 datatype name of a tensor type: FP32, INT64, BOOL, BYTES, … */
export function v2DatatypeOf (type: TensorType): string {
  return tensorTypes[type].datatype
}

/** The tensor type of a v2 datatype name (exact, upper case), or undefined. */
export function tensorTypeOfV2 (datatype: string): TensorType | undefined {
  return typesByDatatype.get(datatype)
}

const elementSizes: Record<TensorType, number | undefined> = {
  float16: 2,
  float32: 4,
  float64: 8,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  uint8: 1,
  uint16: 2,
  uint32: 4,
  uint64: 8,
  bool: 1,
  string: undefined
}

/** Bytes per element in the binary format; undefined for BYTES, whose elements vary. */
export function v2ElementSize (type: TensorType): number | undefined {
  return elementSizes[type]
}

/**
 * The Inference-Header-Content-Length header as a number: undefined when
 * absent; a refusal when it is not one non-negative integer.
 */
export function parseHeaderLength (value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined
  if (Array.isArray(value)) {
    throw new InputError(HEADER_FIELD, `${HEADER_FIELD}: expected one non-negative integer, received the header ${value.length} times`)
  }
  const text = value.trim()
  if (!/^\d{1,15}$/.test(text)) {
    throw new InputError(HEADER_FIELD, `${HEADER_FIELD}: expected a non-negative integer, received ${quote(text)}`)
  }
  return Number(text)
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

export interface V2Model {
  inputs: TensorSpec[]
  outputs: TensorSpec[]
}

export interface V2Limits {
  /** Elements one request may carry across all its inputs. */
  maxElements: number
}

/** A client-supplied name or datatype for a message, quoted and cut short. */
function quote (text: string): string {
  return `'${text.length > 64 ? `${text.slice(0, 64)}…` : text}'`
}

function describeDatatype (value: unknown): string {
  if (typeof value !== 'string') return describeValue(value)
  return typesByDatatype.has(value) ? value : `${quote(value)} (not a v2 datatype)`
}

function names (specs: readonly TensorSpec[]): string {
  return specs.map(spec => spec.name).join(', ')
}

/** How a model's tensor reads in messages: `FP32 [-1, 4]`. */
function describeSpec (spec: TensorSpec): string {
  return `${v2DatatypeOf(spec.type)} ${formatShape(spec.shape)}`
}

// JSON.parse makes `__proto__` an own key, harmless here, but code further on
// may merge these objects: refuse the keys as the other routes' parser does.
const SUSPECT_KEYS = /__proto__|constructor|\\u/

function hasPoisonedKeys (root: unknown): boolean {
  const stack: unknown[] = [root]
  while (stack.length > 0) {
    const value = stack.pop()
    if (typeof value !== 'object' || value === null) continue
    if (!Array.isArray(value)) {
      if (Object.hasOwn(value, '__proto__')) return true
      const ctor = (value as Record<string, unknown>).constructor
      if (Object.hasOwn(value, 'constructor') && typeof ctor === 'object' && ctor !== null && Object.hasOwn(ctor, 'prototype')) return true
    }
    for (const child of Object.values(value)) {
      if (typeof child === 'object' && child !== null) stack.push(child)
    }
  }
  return false
}

function parseJson (body: Buffer, headerLength: number | undefined): unknown {
  const text = body.toString('utf8', 0, headerLength ?? body.length)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    if (headerLength !== undefined) {
      throw new InputError('body', `body: expected the first ${headerLength} bytes (${HEADER_LENGTH_HEADER}) to be a JSON object, received text that is not valid JSON`)
    }
    const hint = text.includes('"binary_data_size"')
      ? `; a body with binary tensors needs the ${HEADER_LENGTH_HEADER} header giving the length of its JSON part`
      : ''
    throw new InputError('body', `body: expected a JSON object, received text that is not valid JSON${hint}`)
  }
  if (SUSPECT_KEYS.test(text) && hasPoisonedKeys(value)) {
    throw new InputError('body', 'body: the keys __proto__ and constructor.prototype are not allowed in a request body')
  }
  return value
}

/** The optional `parameters` object of the request, an input or an output. */
function parametersOf (owner: Record<string, unknown>, field: string): Record<string, unknown> {
  const parameters = owner.parameters
  if (parameters === undefined) return {}
  if (!isPlainObject(parameters)) {
    throw new InputError(`${field}parameters`, `${field}parameters: expected an object, received ${describeValue(parameters)}`)
  }
  return parameters
}

function optionalBoolean (parameters: Record<string, unknown>, key: string, field: string): boolean | undefined {
  const value = parameters[key]
  if (value === undefined || typeof value === 'boolean') return value
  throw new InputError(`${field}.${key}`, `${field}.${key}: expected a boolean, received ${describeValue(value)}`)
}

/** Extensions of Triton's we do not offer: refuse them rather than answer something else. */
function refuseUnsupported (parameters: Record<string, unknown>, keys: readonly string[], field: string): void {
  for (const key of keys) {
    if (parameters[key] !== undefined) {
      throw new InputError(`${field}.${key}`, `${field}.${key}: not supported by this server; remove the parameter`)
    }
  }
}

function checkShape (value: unknown, spec: TensorSpec, field: string): number[] {
  const shapeField = `${field}.shape`
  const expected = `a shape matching ${formatShape(spec.shape)} (-1: any size) for input '${spec.name}'`
  if (!Array.isArray(value)) {
    throw new InputError(shapeField, `${shapeField}: expected ${expected}, received ${describeValue(value)}`)
  }
  value.forEach((dim: unknown, i) => {
    if (typeof dim !== 'number' || !Number.isSafeInteger(dim) || dim < 0) {
      throw new InputError(`${shapeField}[${i}]`, `${shapeField}[${i}]: expected a non-negative integer, received ${describeValue(dim)}`)
    }
  })
  const shape = value as number[]
  if (shape.length !== spec.shape.length) {
    throw new InputError(shapeField, `${shapeField}: expected ${expected}, of rank ${spec.shape.length}, received ${formatShape(shape)} of rank ${shape.length}`)
  }
  spec.shape.forEach((want, i) => {
    if (want >= 0 && shape[i] !== want) {
      throw new InputError(`${shapeField}[${i}]`, `${shapeField}[${i}]: expected ${want} (model shape ${formatShape(spec.shape)} of input '${spec.name}'), received ${shape[i]}`)
    }
  })
  return shape
}

/** The tensor from flat or nested JSON values, every element checked. */
function decodeJsonData (value: unknown, spec: TensorSpec, shape: number[], count: number, field: string): TensorArray {
  const dataField = `${field}.data`
  const datatype = v2DatatypeOf(spec.type)
  if (!Array.isArray(value)) {
    throw new InputError(dataField, `${dataField}: expected an array of ${count} ${datatype} values for shape ${formatShape(shape)}, flat or nested, received ${describeValue(value)}`)
  }
  const nested = shape.length > 0 && Array.isArray(value[0])
  if (!nested && value.length !== count) {
    throw new InputError(dataField, `${dataField}: expected ${count} ${datatype} values for shape ${formatShape(shape)}, received an array of ${value.length}`)
  }
  // The shape was charged to the request's budget already.
  const reader = new JsonTensorReader(spec.type, nested ? [...shape] : [count], () => `shape ${formatShape(shape)} of ${datatype}`, new ElementBudget(Infinity))
  reader.read(value, dataField)
  return reader.toArray()
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** BYTES elements: each a 4-byte little-endian length, then that many bytes of UTF-8. */
function decodeBinaryStrings (chunk: Buffer, count: number, field: string): string[] {
  const data = new Array<string>(count)
  const problem = `${field}: binary BYTES data of ${chunk.length} bytes (parameters.binary_data_size)`
  let offset = 0
  for (let i = 0; i < count; i++) {
    if (chunk.length - offset < 4) {
      throw new InputError(field, `${problem} ends inside the 4-byte length of element ${i}; expected ${count} elements`)
    }
    const length = chunk.readUInt32LE(offset)
    offset += 4
    if (chunk.length - offset < length) {
      throw new InputError(field, `${problem}: element ${i} declares ${length} bytes, but only ${chunk.length - offset} remain`)
    }
    try {
      data[i] = utf8.decode(chunk.subarray(offset, offset + length))
    } catch {
      throw new InputError(field, `${field}: binary BYTES element ${i} is not valid UTF-8; this server takes BYTES as UTF-8 text`)
    }
    if (data[i].includes('\0')) throw new InputError(field, `${field}: binary BYTES element ${i}: expected ${NUL_PROBLEM}`)
    offset += length
  }
  if (offset !== chunk.length) {
    throw new InputError(field, `${problem} holds ${chunk.length - offset} bytes more than its ${count} elements`)
  }
  return data
}

/** Copies a binary tensor into a fresh typed array: `body` may be a view of Node's shared pool. */
function decodeBinary (chunk: Buffer, spec: TensorSpec, count: number, field: string): TensorArray {
  if (spec.type === 'string') return decodeBinaryStrings(chunk, count, field)
  const data = tensorTypes[spec.type].create(count) as Exclude<TensorArray, string[]>
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  bytes.set(chunk)
  if (spec.type === 'bool') {
    const bad = bytes.findIndex(byte => byte > 1)
    if (bad >= 0) {
      throw new InputError(field, `${field}: binary BOOL element ${bad} is the byte ${bytes[bad]}; expected 0 (false) or 1 (true)`)
    }
  }
  return data
}

interface PendingBinary {
  name: string
  spec: TensorSpec
  shape: number[]
  count: number
  size: number
  field: string
}

function decodeRequestedOutputs (
  value: unknown,
  model: V2Model,
  binaryDefault: boolean
): RequestedOutput[] {
  if (value === undefined || (Array.isArray(value) && value.length === 0)) {
    return model.outputs.map(spec => ({ name: spec.name, binary: binaryDefault }))
  }
  if (!Array.isArray(value)) {
    throw new InputError('outputs', `outputs: expected an array of requested outputs ({ name, parameters }), received ${describeValue(value)}`)
  }
  const known = new Set(model.outputs.map(spec => spec.name))
  const seen = new Set<string>()
  const unknown: string[] = []
  const requested: RequestedOutput[] = []
  value.forEach((output: unknown, i) => {
    const field = `outputs[${i}]`
    if (!isPlainObject(output)) {
      throw new InputError(field, `${field}: expected an object { name, parameters }, received ${describeValue(output)}`)
    }
    const name = output.name
    if (typeof name !== 'string') {
      throw new InputError(`${field}.name`, `${field}.name: expected one of the model's outputs (${names(model.outputs)}), received ${describeValue(name)}`)
    }
    if (seen.has(name)) {
      throw new InputError(`${field}.name`, `${field}.name: output ${quote(name)} is requested more than once`)
    }
    seen.add(name)
    if (!known.has(name)) unknown.push(quote(name))
    const parameters = parametersOf(output, `${field}.`)
    refuseUnsupported(parameters, ['classification', 'shared_memory_region'], `${field}.parameters`)
    const binary = optionalBoolean(parameters, 'binary_data', `${field}.parameters`)
    requested.push({ name, binary: binary ?? binaryDefault })
  })
  if (unknown.length > 0) {
    throw new InputError('outputs', `outputs: the model has no output ${unknown.join(', ')}; its outputs are ${names(model.outputs)}`)
  }
  return requested
}

/**
 * Decodes and checks a v2 infer request body. Without `headerLength` the body
 * is JSON alone; with it, the first `headerLength` bytes are the JSON and the
 * rest the binary tensors of the inputs that declare `binary_data_size`.
 */
export function decodeInferRequest (
  body: Buffer,
  headerLength: number | undefined,
  model: V2Model,
  limits: V2Limits
): DecodedInferRequest {
  if (headerLength !== undefined && (!Number.isSafeInteger(headerLength) || headerLength < 0 || headerLength > body.length)) {
    throw new InputError(HEADER_FIELD, `${HEADER_FIELD}: expected an integer from 0 to the body's length (${body.length} bytes), received ${headerLength}`)
  }
  const request = parseJson(body, headerLength)
  if (!isPlainObject(request)) {
    throw new InputError('body', `body: expected a JSON object with an inputs array, received ${describeValue(request)}`)
  }

  let id: string | undefined
  if (request.id !== undefined) {
    if (typeof request.id !== 'string') {
      throw new InputError('id', `id: expected a string, received ${describeValue(request.id)}`)
    }
    id = request.id
  }
  const parameters = parametersOf(request, '')
  const binaryDefault = optionalBoolean(parameters, 'binary_data_output', 'parameters') ?? false

  const inputs = request.inputs
  if (inputs === undefined) {
    throw new InputError('inputs', `inputs: missing; expected an array of input tensors ({ name, shape, datatype, data }) for the model's inputs ${names(model.inputs)}`)
  }
  if (!Array.isArray(inputs)) {
    throw new InputError('inputs', `inputs: expected an array of input tensors ({ name, shape, datatype, data }), received ${describeValue(inputs)}`)
  }
  if (inputs.length === 0) {
    throw new InputError('inputs', `inputs: expected at least one input tensor (the model's inputs are ${names(model.inputs)}), received none`)
  }

  const specs = new Map(model.inputs.map(spec => [spec.name, spec]))
  const firstSeen = new Map<string, string>()
  const feeds: TensorMap = {}
  const pending: PendingBinary[] = []
  const budget = new ElementBudget(limits.maxElements)
  inputs.forEach((input: unknown, i) => {
    const field = `inputs[${i}]`
    if (!isPlainObject(input)) {
      throw new InputError(field, `${field}: expected an object { name, shape, datatype, data }, received ${describeValue(input)}`)
    }
    const name = input.name
    if (typeof name !== 'string') {
      throw new InputError(`${field}.name`, `${field}.name: expected one of the model's inputs (${names(model.inputs)}), received ${describeValue(name)}`)
    }
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
      throw new InputError(`${field}.datatype`, `${field}.datatype: expected ${datatype} for input '${name}', received ${describeDatatype(input.datatype)}`)
    }
    const shape = checkShape(input.shape, spec, field)
    const count = elementCount(shape)
    budget.takeShape(shape, `${field}.shape`)

    const inputParameters = parametersOf(input, `${field}.`)
    refuseUnsupported(inputParameters, ['shared_memory_region'], `${field}.parameters`)
    const size = inputParameters.binary_data_size
    if (size === undefined) {
      if (input.data === undefined) {
        throw new InputError(`${field}.data`, `${field}.data: missing; expected ${count} ${datatype} values for shape ${formatShape(shape)}, or parameters.binary_data_size with the tensor in the binary part of the body`)
      }
      feeds[name] = { type: spec.type, dims: shape, data: decodeJsonData(input.data, spec, shape, count, field) }
      return
    }
    const sizeField = `${field}.parameters.binary_data_size`
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw new InputError(sizeField, `${sizeField}: expected a non-negative integer (bytes), received ${describeValue(size)}`)
    }
    if (input.data !== undefined) {
      throw new InputError(field, `${field}: expected data or parameters.binary_data_size, received both; send the tensor one way`)
    }
    const elementSize = v2ElementSize(spec.type)
    if (elementSize !== undefined && size !== count * elementSize) {
      throw new InputError(sizeField, `${sizeField}: expected ${count * elementSize} bytes (shape ${formatShape(shape)} of ${datatype}, ${elementSize} ${elementSize === 1 ? 'byte' : 'bytes'} each), received ${size}`)
    }
    pending.push({ name, spec, shape, count, size, field })
  })

  const missing = model.inputs.filter(spec => !firstSeen.has(spec.name))
  if (missing.length > 0) {
    throw new InputError('inputs', `inputs: missing ${missing.map(spec => `'${spec.name}' (${describeSpec(spec)})`).join(', ')}; the model's inputs are ${names(model.inputs)}`)
  }

  const start = headerLength ?? body.length
  const available = body.length - start
  const declared = pending.reduce((sum, input) => sum + input.size, 0)
  if (declared !== available) {
    if (headerLength === undefined) {
      throw new InputError(HEADER_FIELD, `${HEADER_FIELD}: missing; inputs with parameters.binary_data_size need it to give the length of the JSON part of the body`)
    }
    throw new InputError('body', `body: expected ${declared} bytes of binary tensor data after the ${headerLength}-byte JSON part (the inputs' parameters.binary_data_size), received ${available}`)
  }
  let offset = start
  for (const input of pending) {
    const chunk = body.subarray(offset, offset + input.size)
    offset += input.size
    feeds[input.name] = { type: input.spec.type, dims: input.shape, data: decodeBinary(chunk, input.spec, input.count, input.field) }
  }
  // The model's order, whatever the request's.
  const ordered: TensorMap = {}
  for (const spec of model.inputs) ordered[spec.name] = feeds[spec.name]

  const outputs = decodeRequestedOutputs(request.outputs, model, binaryDefault)
  return { ...(id === undefined ? {} : { id }), feeds: ordered, outputs, parameters }
}

export interface EncodedInferResponse {
  body: Buffer
  /** The JSON part's length in bytes, for Inference-Header-Content-Length; set only when binary data follows. */
  headerLength?: number
}

export interface EncodeResponseArgs {
  modelName: string
  modelVersion: string
  id?: string
  outputs: TensorMap
  requested: RequestedOutput[]
}

/** The tensor's bytes in the binary format. */
function binaryOf (tensor: TensorData): Buffer {
  const data = tensor.data
  if (!Array.isArray(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  const parts: Buffer[] = []
  for (const element of data) {
    const bytes = Buffer.from(element, 'utf8')
    const length = Buffer.allocUnsafe(4)
    length.writeUInt32LE(bytes.length)
    parts.push(length, bytes)
  }
  return Buffer.concat(parts)
}

/**
 * Encodes the outputs in the order requested: JSON `data`, or for binary
 * outputs `parameters.binary_data_size` with the bytes after the JSON.
 */
export function encodeInferResponse (args: EncodeResponseArgs): EncodedInferResponse {
  const binaries: Buffer[] = []
  const outputs = args.requested.map(({ name, binary }) => {
    const tensor = args.outputs[name]
    if (tensor === undefined) throw new Error(`output '${name}' was requested but the model did not return it`)
    const head = { name, datatype: v2DatatypeOf(tensor.type), shape: tensor.dims }
    if (!binary) return { ...head, data: flatJson(tensor) }
    const bytes = binaryOf(tensor)
    binaries.push(bytes)
    return { ...head, parameters: { binary_data_size: bytes.length } }
  })
  const json = Buffer.from(JSON.stringify({
    model_name: args.modelName,
    model_version: args.modelVersion,
    ...(args.id === undefined ? {} : { id: args.id }),
    outputs
  }), 'utf8')
  if (binaries.length === 0) return { body: json }
  return { body: Buffer.concat([json, ...binaries]), headerLength: json.length }
}

/** A v2 infer over the inference service: the encoded response and the log line's facts. */
export async function inferV2 (service: InferenceService, model: ModelVersion, body: Buffer, headerLength: number | undefined): Promise<{ response: EncodedInferResponse, log: InferenceLog }> {
  const decoded = decodeInferRequest(body, headerLength, model, service.limits)
  const { outputs, log } = await service.run(model, decoded.feeds, { fetches: decoded.outputs.map(output => output.name), field: 'inputs' })
  const response = encodeInferResponse({ modelName: model.name, modelVersion: String(model.version), id: decoded.id, outputs, requested: decoded.outputs })
  return { response, log }
}
