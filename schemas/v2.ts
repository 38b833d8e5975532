import { Type } from '@sinclair/typebox'

/** Every non-200 on /v2: what NVIDIA's and KServe's clients parse. */
export const V2ErrorSchema = Type.Object({ error: Type.String() }, { $id: 'V2Error', description: 'An error, in the protocol\'s shape' })

export function v2Errors (...codes: number[]): Record<number, typeof V2ErrorSchema> {
  return Object.fromEntries(codes.map(code => [code, V2ErrorSchema]))
}

export const V2ModelParams = Type.Object({
  name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$', description: 'a model name: up to 128 letters, digits, _ . or -, starting with a letter or digit' }),
  version: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,8}$', description: 'a model version: a positive integer' }))
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
