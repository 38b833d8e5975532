// Assertions on HTTP responses shared by the route and plugin tests.

import { STATUS_CODES } from 'node:http'
import type { LightMyRequestResponse } from 'fastify'

export interface ExpectedError {
  statusCode: number
  code: string
  /** The exact message, or a pattern it must match. */
  message: string | RegExp
}

/**
 * An error outside /v2: JSON in Fastify's shape with exactly
 * {statusCode, code, error, message}, the status and its standard phrase.
 * `what`, when given, prefixes each assertion's name (for loops over cases).
 */
export function assertError (t: tap.Test, res: LightMyRequestResponse, expected: ExpectedError, what?: string): void {
  const name = (check: string): string => what === undefined ? check : `${what}: ${check}`
  t.equal(res.statusCode, expected.statusCode, name('status code'))
  t.match(res.headers['content-type'], /^application\/json/, name('error is JSON'))
  const body = res.json<Record<string, unknown>>()
  t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'], name('exactly the four error keys'))
  t.equal(body.statusCode, expected.statusCode, name('body.statusCode matches the status'))
  t.equal(body.error, STATUS_CODES[expected.statusCode], name('body.error is the status phrase'))
  t.equal(body.code, expected.code, name('body.code'))
  if (typeof expected.message === 'string') t.equal(body.message, expected.message, name('body.message'))
  else t.match(body.message, expected.message, name('body.message'))
}
