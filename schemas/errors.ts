import { Type, type Static } from '@sinclair/typebox'

/** Every error outside /v2, in Fastify's own shape. */
export const ErrorResponseSchema = Type.Object({
  statusCode: Type.Integer({ examples: [400] }),
  code: Type.String({ examples: ['ONNX_SERVE_BAD_INPUT'] }),
  error: Type.String({ examples: ['Bad Request'] }),
  message: Type.String({ examples: ['input_data[1]: expected an array of 4 (row shape [4] of float32), received an array of 3'] })
}, { $id: 'ErrorResponse', description: 'An error' })

export type ErrorResponse = Static<typeof ErrorResponseSchema>

/** The error responses a route may give, for its schema. */
export function errorResponses (...codes: number[]): Record<number, typeof ErrorResponseSchema> {
  return Object.fromEntries(codes.map(code => [code, ErrorResponseSchema]))
}
