// Errors the core raises on purpose. Their messages are written for clients,
// so the HTTP layer may send them as they are; anything else is a 500.

export class ServeError extends Error {
  readonly statusCode: number
  readonly code: string
  /** Seconds a client should wait before retrying (429, 503). */
  readonly retryAfter?: number

  constructor (statusCode: number, code: string, message: string, retryAfter?: number) {
    super(message)
    this.name = new.target.name
    this.statusCode = statusCode
    this.code = code
    this.retryAfter = retryAfter
  }
}

/** Bad input: the message names the field, the expected and the received shape or type. */
export class InputError extends ServeError {
  readonly field: string

  constructor (field: string, message: string) {
    super(400, 'ONNX_SERVE_BAD_INPUT', message)
    this.field = field
  }
}

/**
 * The model refused the request's values while running: every shape and type
 * was checked before, so what is left is the values (an index past an
 * embedding's rows, a shape a Reshape cannot make of them): the client's to fix.
 */
export class ModelRunError extends InputError {
  constructor (message: string) {
    super('inputs', message)
  }
}

export class NotFoundError extends ServeError {
  constructor (message: string) {
    super(404, 'ONNX_SERVE_NOT_FOUND', message)
  }
}

export class UnavailableError extends ServeError {
  constructor (message: string, retryAfter = 5) {
    super(503, 'ONNX_SERVE_UNAVAILABLE', message, retryAfter)
  }
}

export class OverloadedError extends ServeError {
  constructor (message: string, retryAfter = 1) {
    super(503, 'ONNX_SERVE_OVERLOADED', message, retryAfter)
  }
}

/** An auth refusal; `challenge` is its WWW-Authenticate value (RFC 6750). */
export class AuthError extends ServeError {
  readonly challenge: string

  constructor (statusCode: 401 | 403, message: string, challenge: string) {
    super(statusCode, statusCode === 401 ? 'ONNX_SERVE_UNAUTHORIZED' : 'ONNX_SERVE_FORBIDDEN', message)
    this.challenge = challenge
  }
}

/** 401: no token or a bad one. */
export class UnauthorizedError extends AuthError {
  constructor (message: string, challenge: string) {
    super(401, message, challenge)
  }
}

/** 403: a valid token without the scope the route needs. */
export class ForbiddenError extends AuthError {
  constructor (message: string, challenge: string) {
    super(403, message, challenge)
  }
}

/** Which limit a 429 is from: the request quota, failed authentications, or scrapes of /metrics. */
export type RateLimitReason = 'quota' | 'auth_failures' | 'scrapes'

export class TooManyRequestsError extends ServeError {
  constructor (message: string, retryAfter: number, readonly reason: RateLimitReason = 'quota') {
    super(429, 'ONNX_SERVE_RATE_LIMITED', message, retryAfter)
  }
}

export class InferenceTimeoutError extends ServeError {
  constructor (message: string) {
    super(504, 'ONNX_SERVE_INFERENCE_TIMEOUT', message)
  }
}

/** The caller's deadline (a gRPC deadline) passed before its inference could run: it is dropped unrun. */
export class DeadlineExceededError extends ServeError {
  constructor (message: string) {
    super(504, 'ONNX_SERVE_DEADLINE_EXCEEDED', message)
  }
}
