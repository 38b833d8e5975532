// The v2 infer call over gRPC (ModelInfer, and each message of
// ModelStreamInfer): a ModelInferRequest becomes the protocol's request, its
// typed `contents` the elements JSON would list and its raw_input_contents
// the bytes the binary extension would carry, so every check is HTTP's
// (lib/protocols/v2/infer-request). Outputs go back as Triton sends them, in
// raw_output_contents.

import { InputError } from '../../errors'
import type { InferCodec } from '../../data-plane/infer-codec'
import type { TensorType } from '../../tensors/tensor'
import { encodeBinaryTensor } from '../v2/binary-tensors'
import { tensorTypeOfV2, v2DatatypeOf } from '../v2/datatypes'
import { decodeInferRequest, type RawInputs, type TensorFields } from '../v2/infer-request'
import type { InferInput, InferRequest } from '../v2/wire'
import type { InferInputTensor, InferParameter, InferTensorContents, ModelInferRequest, ModelInferResponse } from './messages'

type ContentsField = keyof InferTensorContents

/** The typed contents field of each datatype, as Triton's clients fill them; FP16 has none (raw only). */
const CONTENTS_FIELD: Record<TensorType, ContentsField | undefined> = {
  bool: 'bool_contents',
  int8: 'int_contents',
  int16: 'int_contents',
  int32: 'int_contents',
  int64: 'int64_contents',
  uint8: 'uint_contents',
  uint16: 'uint_contents',
  uint32: 'uint_contents',
  uint64: 'uint64_contents',
  float16: undefined,
  float32: 'fp32_contents',
  float64: 'fp64_contents',
  string: 'bytes_contents'
}

const GRPC_TENSOR_FIELDS: TensorFields = {
  values: i => `inputs[${i}].contents`,
  raw: i => `raw_input_contents[${i}]`,
  rawLabel: i => `raw_input_contents[${i}]`
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** A parameter's value as JSON would carry it; 64-bit integers as numbers while exact. */
function parameterValue (parameter: InferParameter, field: string): unknown {
  switch (parameter.parameter_choice) {
    case 'bool_param': return parameter.bool_param
    case 'string_param': return parameter.string_param
    case 'double_param': return parameter.double_param
    case 'int64_param':
    case 'uint64_param': {
      const text = parameter.parameter_choice === 'int64_param' ? parameter.int64_param : parameter.uint64_param
      return Number.isSafeInteger(Number(text)) ? Number(text) : text
    }
    default: throw new InputError(field, `${field}: expected one of bool_param, int64_param, string_param, double_param or uint64_param, received none`)
  }
}

function parameters (map: Record<string, InferParameter> | undefined, field: string): Record<string, unknown> | undefined {
  if (map === undefined) return undefined
  return Object.fromEntries(Object.entries(map).map(([key, value]) => [key, parameterValue(value, `${field}.${key}`)]))
}

/** A shape's dimensions, sent as 64-bit integers: each must be a size. */
function shapeOf (dims: string[] | undefined, field: string): number[] {
  return (dims ?? []).map((text, j) => {
    const dim = Number(text)
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new InputError(`${field}.shape[${j}]`, `${field}.shape[${j}]: expected a non-negative integer, received ${text}`)
    }
    return dim
  })
}

/** The one contents field an input set, or undefined when it set none. */
function setContents (contents: InferTensorContents | undefined, field: string): ContentsField | undefined {
  const set = (Object.keys(contents ?? {}) as ContentsField[]).filter(key => (contents?.[key]?.length ?? 0) > 0)
  if (set.length > 1) throw new InputError(`${field}.contents`, `${field}.contents: expected the elements in one field, received ${set.join(' and ')}`)
  return set[0]
}

/** An input's typed contents as the elements JSON `data` would list, after checking the field suits its datatype. */
function contentsData (input: InferInputTensor, used: ContentsField, field: string): unknown[] {
  const type = tensorTypeOfV2(input.datatype ?? '')
  // An unknown datatype is refused with the model's expectation by the shared checks.
  if (type !== undefined && CONTENTS_FIELD[type] !== used) {
    const want = CONTENTS_FIELD[type]
    throw new InputError(`${field}.contents`, want === undefined
      ? `${field}.contents: ${input.datatype ?? ''} has no typed contents field; send the tensor in raw_input_contents (2 bytes per element, little-endian), received ${used}`
      : `${field}.contents: expected ${input.datatype ?? ''} elements in ${want}, received ${used}`)
  }
  const values = input.contents?.[used] ?? []
  if (used !== 'bytes_contents') return values
  return (values as Buffer[]).map((bytes, j) => {
    try {
      return utf8.decode(bytes)
    } catch {
      throw new InputError(`${field}.contents.bytes_contents[${j}]`, `${field}.contents.bytes_contents[${j}]: not valid UTF-8; this server takes BYTES as UTF-8 text`)
    }
  })
}

/** The protocol's request and raw inputs of a ModelInferRequest, with what only gRPC can get wrong refused. */
function readModelInferRequest (message: ModelInferRequest): { request: InferRequest, raw: RawInputs } {
  const tensors = message.inputs ?? []
  const rawContents = message.raw_input_contents ?? []
  if (rawContents.length > 0 && rawContents.length !== tensors.length) {
    throw new InputError('raw_input_contents', `raw_input_contents: expected one entry per input (${tensors.length}), in the order of inputs, received ${rawContents.length}`)
  }
  const inputs = tensors.map((tensor, i): InferInput => {
    const field = `inputs[${i}]`
    const used = setContents(tensor.contents, field)
    if (used !== undefined && rawContents.length > 0) {
      throw new InputError(field, `${field}: expected its elements in contents or in raw_input_contents, received both; send every input one way`)
    }
    const shape = shapeOf(tensor.shape, field)
    const input: InferInput = { name: tensor.name ?? '', datatype: tensor.datatype ?? '', shape }
    const inputParameters = parameters(tensor.parameters, `${field}.parameters`)
    if (inputParameters !== undefined) input.parameters = inputParameters
    if (used !== undefined) input.data = contentsData(tensor, used, field)
    // A tensor of no elements has no contents on the wire: it is empty, not missing.
    else if (rawContents.length === 0) input.data = []
    return input
  })
  const request: InferRequest = { inputs }
  if (message.id !== undefined) request.id = message.id
  const requestParameters = parameters(message.parameters, 'parameters')
  // Outputs always come back raw over gRPC; the HTTP extension's switch means nothing here.
  if (requestParameters !== undefined) request.parameters = { ...requestParameters, binary_data_output: false }
  if (message.outputs !== undefined) {
    request.outputs = message.outputs.map((output, i) => {
      const outputParameters = parameters(output.parameters, `outputs[${i}].parameters`)
      return { name: output.name ?? '', ...(outputParameters === undefined ? {} : { parameters: { ...outputParameters, binary_data: false } }) }
    })
  }
  return { request, raw: rawContents.length > 0 ? rawContents : [] }
}

/** The v2 infer codec of the gRPC transport: a ModelInferRequest in, a ModelInferResponse out. */
export const grpcInfer: InferCodec<ModelInferRequest, ModelInferResponse> = (message, model, limits) => {
  const { request, raw } = readModelInferRequest(message)
  const decoded = decodeInferRequest(request, raw, model, limits, GRPC_TENSOR_FIELDS)
  return {
    feeds: decoded.feeds,
    fetches: decoded.outputs.map(output => output.name),
    field: 'inputs',
    rows: false,
    reply: outputs => {
      const tensors = decoded.outputs.map(({ name }) => {
        const tensor = outputs[name]
        if (tensor === undefined) throw new Error(`output '${name}' was requested but the model did not return it`)
        return { name, tensor }
      })
      return {
        model_name: model.name,
        model_version: String(model.version),
        ...(decoded.id === undefined ? {} : { id: decoded.id }),
        outputs: tensors.map(({ name, tensor }) => ({ name, datatype: v2DatatypeOf(tensor.type), shape: tensor.dims })),
        raw_output_contents: tensors.map(({ tensor }) => encodeBinaryTensor(tensor))
      }
    }
  }
}
