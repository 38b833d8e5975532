import { STATUS_CODES } from 'node:http'
import { Type, type Static } from '@sinclair/typebox'

/** Every error outside /v2, in Fastify's own shape. */
export const ErrorResponseSchema = Type.Object({
  statusCode: Type.Integer({ examples: [400] }),
  code: Type.String({ examples: ['ONNX_SERVE_BAD_INPUT'] }),
  error: Type.String({ examples: ['Bad Request'] }),
  message: Type.String({ examples: ['input_data[1]: expected an array of 4 (row shape [4] of float32), received an array of 3'] })
}, { $id: 'ErrorResponse', description: 'An error' })

export type ErrorResponse = Static<typeof ErrorResponseSchema>

/** The body of an error reply, from its status, code and message. */
export type ErrorBody = (statusCode: number, code: string, message: string) => unknown

/** Fastify's shape, outside /v2. */
export const fastifyErrorBody: ErrorBody = (statusCode, code, message): ErrorResponse =>
  ({ statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message })

/** The Open Inference Protocol's: its clients (tritonclient) parse every non-200 as `{"error": ...}`. */
export const protocolErrorBody: ErrorBody = (_statusCode, _code, message) => ({ error: message })

/** The error responses a route may give, for its schema. */
export function errorResponses (...codes: number[]): Record<number, typeof ErrorResponseSchema> {
  return Object.fromEntries(codes.map(code => [code, ErrorResponseSchema]))
}
