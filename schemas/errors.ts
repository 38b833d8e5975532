import { STATUS_CODES } from 'node:http'
import { Type, type Static, type TObject } from '@sinclair/typebox'

const errorProperties = {
  statusCode: Type.Integer(),
  code: Type.String({ description: 'Stable, for programs: ONNX_SERVE_BAD_INPUT, ONNX_SERVE_UNAUTHORIZED, …' }),
  error: Type.String({ description: 'The status phrase' }),
  message: Type.String({ description: 'For people: the field, the expected and the received shape or type' })
}

/** Every error outside /v2, in Fastify's own shape (each status's schema: errorResponses). */
type ErrorResponseSchema = TObject<typeof errorProperties>

/**
 * What the server answers for each status, shown per status on the docs
 * page (test/plugins/docs.test.ts checks each against a real answer).
 */
export const ERROR_EXAMPLES: Readonly<Record<number, { code: string, message: string }>> = {
  400: { code: 'ONNX_SERVE_BAD_INPUT', message: 'input_data[0]: expected an array of 4 (row shape [4] of float32), received an array of 3' },
  401: { code: 'ONNX_SERVE_UNAUTHORIZED', message: 'missing bearer token: send Authorization: Bearer <token>' },
  403: { code: 'ONNX_SERVE_FORBIDDEN', message: 'this route needs the \'predict\' scope; the token has admin' },
  404: { code: 'ONNX_SERVE_NOT_FOUND', message: 'model \'nope\' not found; available models: iris, iris-petal-width' },
  413: { code: 'FST_ERR_CTP_BODY_TOO_LARGE', message: 'Request body is too large' },
  415: { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', message: 'Unsupported Media Type: send application/json' },
  429: { code: 'ONNX_SERVE_RATE_LIMITED', message: 'rate limit of 6000 requests per 60 s exceeded; retry in 12 seconds' },
  503: { code: 'ONNX_SERVE_UNAVAILABLE', message: 'model \'iris\' is unavailable: unloaded' },
  504: { code: 'ONNX_SERVE_INFERENCE_TIMEOUT', message: 'inference did not finish within 30000 ms' }
}

/** `${code} ${phrase}`: an error response's description on the docs page. */
export function statusDescription (code: number): string {
  return `${code} ${STATUS_CODES[code] ?? 'Error'}`
}

export type ErrorResponse = Static<ErrorResponseSchema>

/** The body of an error reply, from its status, code and message. */
export type ErrorBody = (statusCode: number, code: string, message: string) => unknown

/** Fastify's shape, outside /v2. */
export const fastifyErrorBody: ErrorBody = (statusCode, code, message): ErrorResponse =>
  ({ statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message })

/** The Open Inference Protocol's: its clients (tritonclient) parse every non-200 as `{"error": ...}`. */
export const protocolErrorBody: ErrorBody = (_statusCode, _code, message) => ({ error: message })

/** The error responses a route may give, for its schema: each with its own description and example. */
export function errorResponses (...codes: number[]): Record<number, ErrorResponseSchema> {
  return Object.fromEntries(codes.map(code => [code, Type.Object(errorProperties, {
    description: statusDescription(code),
    examples: [fastifyErrorBody(code, ERROR_EXAMPLES[code].code, ERROR_EXAMPLES[code].message)]
  })]))
}

/** Every non-200 on /v2: what NVIDIA's and KServe's clients parse. */
const v2ErrorProperties = { error: Type.String() }

// Where /v2 words an error otherwise (its field names are the protocol's).
const V2_ERROR_MESSAGES: Readonly<Record<number, string>> = {
  400: 'inputs[0].shape[1]: expected 4 (model shape [-1, 4] of input \'features\'), received 3',
  403: 'this route needs the \'admin\' scope; the token has predict'
}

/** The error responses of a /v2 route: the protocol's shape, each status with its own description and example. */
export function v2Errors (...codes: number[]): Record<number, TObject<typeof v2ErrorProperties>> {
  return Object.fromEntries(codes.map(code => [code, Type.Object(v2ErrorProperties, {
    description: statusDescription(code),
    examples: [protocolErrorBody(code, ERROR_EXAMPLES[code].code, V2_ERROR_MESSAGES[code] ?? ERROR_EXAMPLES[code].message)]
  })]))
}
