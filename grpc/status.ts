// Errors as gRPC statuses: the same messages as HTTP, each HTTP status as
// the gRPC code Triton's and KServe's clients expect for it. Anything that
// is not one of our own errors says nothing of internals.

import { Metadata, status, type ServiceError } from '@grpc/grpc-js'
import { AuthError, ServeError } from '../lib/errors'

const CODES: Record<number, status> = {
  400: status.INVALID_ARGUMENT,
  401: status.UNAUTHENTICATED,
  403: status.PERMISSION_DENIED,
  404: status.NOT_FOUND,
  // Both a message past the size limit and a quota spent: the client may retry later, or smaller.
  413: status.RESOURCE_EXHAUSTED,
  429: status.RESOURCE_EXHAUSTED,
  503: status.UNAVAILABLE,
  504: status.DEADLINE_EXCEEDED
}

/** The HTTP status a gRPC code stands for here, for the metrics' outcome. */
export function httpStatusOf (code: status): number {
  if (code === status.OK) return 200
  for (const [httpStatus, grpcCode] of Object.entries(CODES)) if (grpcCode === code) return Number(httpStatus)
  return code === status.UNIMPLEMENTED ? 501 : 500
}

/**
 * Details travel in a trailer: past some tens of kB (a message quoting a
 * client's 20,000-dimension shape) grpc-js clients never read the status,
 * and every call on that connection waits. The first MAX_DETAILS characters say enough.
 */
const MAX_DETAILS = 1000

function shortened (message: string): string {
  return message.length <= MAX_DETAILS ? message : `${message.slice(0, MAX_DETAILS)}… (${message.length - MAX_DETAILS} more characters)`
}

const INTERNAL_MESSAGE = 'internal error; the server log has the details under this call\'s request id'

/** A ServiceError for `error`, with `metadata` (the call's trailers): ours keep their message (and Retry-After, WWW-Authenticate); others are INTERNAL. */
export function toServiceError (error: unknown, metadata: Metadata): Partial<ServiceError> {
  if (!(error instanceof ServeError)) return { code: status.INTERNAL, details: INTERNAL_MESSAGE, metadata }
  if (error.retryAfter !== undefined) metadata.set('retry-after', String(error.retryAfter))
  if (error instanceof AuthError) metadata.set('www-authenticate', error.challenge)
  const code = CODES[error.statusCode] ?? status.INTERNAL
  return { code, details: code === status.INTERNAL ? INTERNAL_MESSAGE : shortened(error.message), metadata }
}
