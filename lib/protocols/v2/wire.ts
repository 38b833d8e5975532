import { Type, type TObject } from '@sinclair/typebox'
import { ERROR_EXAMPLES, protocolErrorBody, statusDescription } from '../../../schemas/errors'

/** Every non-200 on /v2: what NVIDIA's and KServe's clients parse. */
const v2ErrorProperties = { error: Type.String() }

/** The error responses of a /v2 route: the protocol's shape, each status with its own description and example. */
export function v2Errors (...codes: number[]): Record<number, TObject<typeof v2ErrorProperties>> {
  return Object.fromEntries(codes.map(code => [code, Type.Object(v2ErrorProperties, {
    description: statusDescription(code),
    examples: [protocolErrorBody(code, ERROR_EXAMPLES[code].code, V2_ERROR_MESSAGES[code] ?? ERROR_EXAMPLES[code].message)]
  })]))
}

// Where /v2 words an error otherwise (its field names are the protocol's).
const V2_ERROR_MESSAGES: Readonly<Record<number, string>> = {
  400: 'inputs[0].shape[1]: expected 4 (model shape [-1, 4] of input \'features\'), received 3',
  403: 'this route needs the \'admin\' scope; the token has predict'
}

/**
 * The model paths' parameters. One schema serves /v2/models/{name}… and
 * /v2/models/{name}/versions/{version}…; the docs list only the parameters
 * a path has (plugins/docs.ts).
 */
export const V2ModelParams = Type.Object({
  name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$', description: 'a model name: up to 128 letters, digits, _ . or -, starting with a letter or digit' }),
  version: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,8}$', description: 'a model version: a positive integer' }))
})

/**
 * An inference request as JSON (documentation only: lib/v2-codec reads the
 * body, JSON or Triton's binary tensor data extension).
 */
export const V2InferRequest = Type.Object({
  id: Type.Optional(Type.String({ description: 'Echoed in the response' })),
  parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  inputs: Type.Array(Type.Object({
    name: Type.String(),
    shape: Type.Array(Type.Integer({ minimum: 0 })),
    datatype: Type.String({ description: 'BOOL, UINT8…UINT64, INT8…INT64, FP16, FP32, FP64 or BYTES' }),
    parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    data: Type.Array(Type.Unknown(), { description: 'The elements, flat (row-major) or nested as the shape' })
  })),
  outputs: Type.Optional(Type.Array(Type.Object({
    name: Type.String(),
    parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown()))
  }), { description: 'The outputs to return; all when absent' }))
}, {
  description: 'JSON tensors; with the binary tensor data extension, the JSON part followed by raw bytes (Inference-Header-Content-Length)',
  examples: [{ id: '1', inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] }]
})

export const V2ServerMetadata = Type.Object({
  name: Type.String(),
  version: Type.String(),
  extensions: Type.Array(Type.String())
})

const V2TensorMetadata = Type.Object({
  name: Type.String(),
  datatype: Type.String({ examples: ['FP32'] }),
  shape: Type.Array(Type.Integer(), { description: '-1 for a dynamic dimension' })
})

export const V2ModelMetadata = Type.Object({
  name: Type.String(),
  versions: Type.Array(Type.String()),
  platform: Type.String(),
  inputs: Type.Array(V2TensorMetadata),
  outputs: Type.Array(V2TensorMetadata)
})

export const V2Ready = Type.Object({ name: Type.Optional(Type.String()), ready: Type.Boolean() })
export const V2Live = Type.Object({ live: Type.Boolean() })

export const V2InferResponse = Type.Object({
  model_name: Type.String(),
  model_version: Type.String(),
  id: Type.Optional(Type.String()),
  outputs: Type.Array(Type.Object({
    name: Type.String(),
    datatype: Type.String(),
    shape: Type.Array(Type.Integer()),
    data: Type.Optional(Type.Array(Type.Unknown())),
    parameters: Type.Optional(Type.Object({ binary_data_size: Type.Integer() }))
  }))
}, { description: 'JSON, or with the binary tensor data extension a JSON header (Inference-Header-Content-Length bytes) followed by the binary outputs' })
