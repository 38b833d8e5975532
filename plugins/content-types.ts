import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { InputError } from '../lib/errors'

function isJson (text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/**
 * Requests are HTTP/1.1 with a Host header and JSON bodies. Fastify also parses text/plain by default, which would
 * turn a wrong content type into a confusing validation error instead of 415.
 * Its JSON parser refuses `__proto__` and `constructor.prototype` keys (good)
 * but calls that "not valid JSON" (confusing): say what was refused.
 */
export default fp(async (fastify) => {
  // HTTP/1.1 requires Host (RFC 9112 §3.2).
  fastify.addHook('onRequest', async (request) => {
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      throw new InputError('headers.host', 'headers.host: an HTTP/1.1 request must carry a Host header')
    }
  })

  fastify.removeContentTypeParser('text/plain')

  const parseJson = fastify.getDefaultJsonParser('error', 'error')
  fastify.removeContentTypeParser('application/json')
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request: FastifyRequest, body: string, done) => {
    parseJson(request, body, (error: Error | null, value: unknown) => {
      if (error !== null && isJson(body)) {
        done(new InputError('body', 'body: the keys __proto__ and constructor.prototype are not allowed in a request body'), undefined)
      } else {
        done(error, value)
      }
    })
  })
}, { name: 'content-types' })
