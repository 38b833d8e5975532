import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AuthError, ServeError } from '../lib/errors'
import { describeValue } from '../lib/json/values'
import type { ErrorBody } from '../schemas/errors'

interface ValidationIssue {
  instancePath: string
  keyword: string
  message?: string
  params: Record<string, unknown>
  data?: unknown
  parentSchema?: { description?: string }
}

/** "body.input_data: must be array, received a string" from ajv's first error. */
function validationMessage (error: FastifyError): string {
  const issue = error.validation?.[0] as ValidationIssue | undefined
  if (issue === undefined) return error.message
  const context = error.validationContext ?? 'request'
  const path = issue.instancePath.split('/').filter(Boolean).join('.')
  let field = path === '' ? context : `${context}.${path}`
  let message = issue.message ?? 'is invalid'
  if (issue.keyword === 'required') {
    field = `${field}.${String(issue.params.missingProperty)}`
    message = 'is required'
  } else if (issue.keyword === 'additionalProperties') {
    field = `${field}.${String(issue.params.additionalProperty)}`
    message = 'is not allowed here'
  }
  const aboutValue = ['type', 'minimum', 'maximum', 'pattern', 'minItems', 'maxItems', 'minLength', 'maxLength'].includes(issue.keyword)
  if (!aboutValue) return `${field}: ${message}`
  // A pattern's description says what is expected better than the regular expression does.
  const expected = issue.keyword === 'pattern' ? issue.parentSchema?.description : undefined
  return `${field}: ${expected === undefined ? message : `expected ${expected}`}, received ${describeValue(issue.data)}`
}

/** Fastify's own 415 says only "Unsupported Media Type": say what is supported. */
export const UNSUPPORTED_MEDIA_TYPE = 'Unsupported Media Type: send application/json'

/** A 503 always tells the client when to come back. */
const DEFAULT_RETRY_AFTER = '5'

/**
 * Turns errors into JSON in the shape `body` gives: our own errors and
 * Fastify's 4xx keep their message; any other error says nothing of
 * internals: a 5xx status it carries on purpose (a plugin's 503) is kept
 * with the standard phrase, anything else is a 500. Errors answered with a
 * 5xx go to the request's one log line (request-log), with the request id
 * and the stack. A scope with another error shape (/v2) sets its own.
 */
export function errorHandler (body: ErrorBody) {
  const send = (reply: FastifyReply, statusCode: number, code: string, message: string): FastifyReply =>
    reply.code(statusCode).type('application/json; charset=utf-8').send(body(statusCode, code, message))
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    if (error.validation !== undefined) {
      return send(reply, 400, 'FST_ERR_VALIDATION', validationMessage(error))
    }
    if (error instanceof ServeError) {
      if (error.retryAfter !== undefined) reply.header('retry-after', String(error.retryAfter))
      if (error instanceof AuthError) reply.header('www-authenticate', error.challenge)
      if (error.statusCode >= 500) request.failure = error
      return send(reply, error.statusCode, error.code, error.message)
    }
    const status = error.statusCode ?? 500
    if (status >= 400 && status < 500) {
      const message = error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? UNSUPPORTED_MEDIA_TYPE : error.message
      return send(reply, status, error.code ?? 'BAD_REQUEST', message)
    }
    request.failure = error
    if (status > 500 && status < 600 && STATUS_CODES[status] !== undefined) {
      if (status === 503 && !reply.hasHeader('retry-after')) reply.header('retry-after', DEFAULT_RETRY_AFTER)
      const phrase = STATUS_CODES[status] ?? 'Error'
      return send(reply, status, phrase.toUpperCase().replace(/\W+/g, '_'), phrase)
    }
    return send(reply, 500, 'INTERNAL_SERVER_ERROR', 'Internal Server Error')
  }
}
