// The v2 infer call over HTTP: a JSON body, or Triton's binary tensor data
// extension: a JSON header, its length in the Inference-Header-Content-Length
// header, followed by the raw tensors of the inputs (or outputs) whose
// parameters carry `binary_data_size`, in the order of the JSON's array.

import { InputError } from '../../errors'
import type { InferCodec } from '../../data-plane/infer-codec'
import { parseJsonBody } from '../../json/parse'
import { schemaCheck } from '../../json/schema-check'
import { flatJson } from '../../tensors/tensor-json'
import type { TensorMap } from '../../tensors/tensor'
import { encodeBinaryTensor } from './binary-tensors'
import { v2DatatypeOf } from './datatypes'
import { decodeInferRequest, type RawInputs, type RequestedOutput } from './infer-request'
import { InferRequestSchema, type InferRequest, type InferResponse } from './wire'

/** The request header that gives the length of the JSON part of a body with binary tensors. */
export const HEADER_LENGTH_HEADER = 'inference-header-content-length'
const HEADER_FIELD = `headers.${HEADER_LENGTH_HEADER}`

const checkInferRequest = schemaCheck(InferRequestSchema)

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
    throw new InputError(HEADER_FIELD, `${HEADER_FIELD}: expected a non-negative integer, received '${text.length > 64 ? `${text.slice(0, 64)}…` : text}'`)
  }
  return Number(text)
}

function parseJsonPart (body: Buffer, headerLength: number | undefined): unknown {
  const text = body.toString('utf8', 0, headerLength ?? body.length)
  try {
    return parseJsonBody(text)
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error
    if (headerLength !== undefined) {
      throw new InputError('body', `body: expected the first ${headerLength} bytes (${HEADER_LENGTH_HEADER}) to be a JSON object, received text that is not valid JSON`)
    }
    const hint = text.includes('"binary_data_size"')
      ? `; a body with binary tensors needs the ${HEADER_LENGTH_HEADER} header giving the length of its JSON part`
      : ''
    throw new InputError('body', `body: expected a JSON object, received text that is not valid JSON${hint}`)
  }
}

/**
 * The request of a v2 infer body, checked by its schema, and the raw bytes
 * of the inputs that declare `binary_data_size`, cut from the body after the
 * JSON part in the order of the inputs.
 */
export function readInferBody (body: Buffer, headerLength: number | undefined): { request: InferRequest, raw: RawInputs } {
  if (headerLength !== undefined && (!Number.isSafeInteger(headerLength) || headerLength < 0 || headerLength > body.length)) {
    throw new InputError(HEADER_FIELD, `${HEADER_FIELD}: expected an integer from 0 to the body's length (${body.length} bytes), received ${headerLength}`)
  }
  const request = checkInferRequest(parseJsonPart(body, headerLength))
  const start = headerLength ?? body.length
  const sizes = request.inputs.map(input => input.parameters?.binary_data_size)
  const declared = sizes.reduce<number>((sum, size) => sum + (size ?? 0), 0)
  const available = body.length - start
  if (declared !== available) {
    if (headerLength === undefined) {
      throw new InputError(HEADER_FIELD, `${HEADER_FIELD}: missing; inputs with parameters.binary_data_size need it to give the length of the JSON part of the body`)
    }
    throw new InputError('body', `body: expected ${declared} bytes of binary tensor data after the ${headerLength}-byte JSON part (the inputs' parameters.binary_data_size), received ${available}`)
  }
  let offset = start
  const raw = sizes.map(size => {
    if (size === undefined) return undefined
    offset += size
    return body.subarray(offset - size, offset)
  })
  return { request, raw }
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

/**
 * Encodes the outputs in the order requested: JSON `data`, or for binary
 * outputs `parameters.binary_data_size` with the bytes after the JSON.
 */
export function encodeInferResponse (args: EncodeResponseArgs): EncodedInferResponse {
  const binaries: Buffer[] = []
  const outputs = args.requested.map(({ name, binary }): InferResponse['outputs'][number] => {
    const tensor = args.outputs[name]
    if (tensor === undefined) throw new Error(`output '${name}' was requested but the model did not return it`)
    const head = { name, datatype: v2DatatypeOf(tensor.type), shape: tensor.dims }
    if (!binary) return { ...head, data: flatJson(tensor) }
    const bytes = encodeBinaryTensor(tensor)
    binaries.push(bytes)
    return { ...head, parameters: { binary_data_size: bytes.length } }
  })
  const response: InferResponse = {
    model_name: args.modelName,
    model_version: args.modelVersion,
    ...(args.id === undefined ? {} : { id: args.id }),
    outputs
  }
  const json = Buffer.from(JSON.stringify(response), 'utf8')
  if (binaries.length === 0) return { body: json }
  return { body: Buffer.concat([json, ...binaries]), headerLength: json.length }
}

/** A v2 infer body as HTTP carries it: the bytes and the Inference-Header-Content-Length header. */
export interface HttpInferPayload {
  body: Buffer
  headerLength: string | string[] | undefined
}

/** The v2 infer codec of the HTTP transport. */
export const httpInfer: InferCodec<HttpInferPayload, EncodedInferResponse> = (payload, model, limits) => {
  const { request, raw } = readInferBody(payload.body, parseHeaderLength(payload.headerLength))
  const decoded = decodeInferRequest(request, raw, model, limits)
  return {
    feeds: decoded.feeds,
    fetches: decoded.outputs.map(output => output.name),
    field: 'inputs',
    rows: false,
    reply: outputs => encodeInferResponse({ modelName: model.name, modelVersion: String(model.version), id: decoded.id, outputs, requested: decoded.outputs })
  }
}
