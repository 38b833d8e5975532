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
 */
export function assertError (t: tap.Test, res: LightMyRequestResponse, expected: ExpectedError): void {
  t.equal(res.statusCode, expected.statusCode, 'status code')
  t.match(res.headers['content-type'], /^application\/json/, 'error is JSON')
  const body = res.json<Record<string, unknown>>()
  t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'], 'exactly the four error keys')
  t.equal(body.statusCode, expected.statusCode, 'body.statusCode matches the status')
  t.equal(body.error, STATUS_CODES[expected.statusCode], 'body.error is the status phrase')
  t.equal(body.code, expected.code, 'body.code')
  if (typeof expected.message === 'string') t.equal(body.message, expected.message, 'body.message')
  else t.match(body.message, expected.message, 'body.message')
}
