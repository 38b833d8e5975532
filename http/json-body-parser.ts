import { errorCodes, type FastifyRequest } from 'fastify'
import { parseJsonBody } from '../lib/json/parse'

type Done = (error: Error | null, value?: unknown) => void

/**
 * JSON bodies for the content-type parsers of every scope, through the one
 * parser that refuses prototype-poisoning keys (lib/json/parse): Fastify's
 * own answers for an empty body and for text that is not JSON, and a
 * refusal that says which keys were refused (Fastify's calls a poisoned body
 * "not valid JSON").
 */
export function jsonBodyParser (_request: FastifyRequest, body: Buffer, done: Done): void {
  if (body.length === 0) {
    done(new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY())
    return
  }
  try {
    done(null, parseJsonBody(body.toString('utf8')))
  } catch (error) {
    done(error instanceof SyntaxError ? new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY() : error as Error)
  }
}
