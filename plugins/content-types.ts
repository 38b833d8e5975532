import { createGunzip, createInflate } from 'node:zlib'
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { InputError, ServeError } from '../lib/errors'
import { UNSUPPORTED_MEDIA_TYPE, isV2 } from './errors'

// The v2 infer body is decoded by lib/v2-codec (JSON, or a JSON header followed
// by binary tensors), so it is handed over raw.
const V2_INFER = /^\/v2\/models\/[^/?]+(\/versions\/[^/?]+)?\/infer(\?|$)/

function isJson (text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

function unsupportedMediaType (): ServeError {
  return new ServeError(415, 'FST_ERR_CTP_INVALID_MEDIA_TYPE', UNSUPPORTED_MEDIA_TYPE)
}

/**
 * Requests are HTTP/1.1 with a Host header and JSON bodies. Fastify also
 * parses text/plain by default, which would turn a wrong content type into a
 * confusing validation error instead of 415. Its JSON parser refuses
 * `__proto__` and `constructor.prototype` keys (good) but calls that "not
 * valid JSON" (confusing): say what was refused. On /v2, as NVIDIA's
 * tritonclient sends them, bodies may come without a content type and
 * compressed with gzip or deflate.
 */
export default fp(async (fastify) => {
  // HTTP/1.1 requires Host (RFC 9112 §3.2).
  fastify.addHook('onRequest', async (request) => {
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      throw new InputError('headers.host', 'headers.host: an HTTP/1.1 request must carry a Host header')
    }
  })

  fastify.addHook('preParsing', async (request, _reply, payload) => {
    const encoding = (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase()
    if (encoding === 'identity') return payload
    if (!isV2(request.url) || (encoding !== 'gzip' && encoding !== 'deflate')) {
      throw new ServeError(415, 'FST_ERR_CTP_INVALID_CONTENT_ENCODING', `Content-Encoding '${encoding.slice(0, 40)}' is not supported${isV2(request.url) ? '; use gzip, deflate or none' : ''}`)
    }
    const inflate = encoding === 'gzip' ? createGunzip() : createInflate()
    // Fastify checks Content-Length against the bytes received, and BODY_LIMIT
    // against the inflated ones (so a small bomb cannot grow past it).
    const inflated = Object.assign(inflate, { receivedEncodedLength: 0 })
    payload.on('data', (chunk: Buffer) => { inflated.receivedEncodedLength += chunk.length })
    inflate.on('error', (error: Error & { statusCode?: number }) => {
      error.statusCode = 400
      error.message = `body: not valid ${encoding} data (${error.message})`
    })
    payload.pipe(inflate)
    return inflated
  })

  fastify.removeContentTypeParser('text/plain')

  const parseJson = fastify.getDefaultJsonParser('error', 'error')
  const json = (request: FastifyRequest, body: Buffer, done: (error: Error | null, value?: unknown) => void): void => {
    // Triton's repository calls may come with a content type and no body.
    if (body.length === 0 && isV2(request.url)) return done(null, undefined)
    parseJson(request, body.toString('utf8'), (error: Error | null, value: unknown) => {
      if (error !== null && isJson(body.toString('utf8'))) {
        done(new InputError('body', 'body: the keys __proto__ and constructor.prototype are not allowed in a request body'), undefined)
      } else {
        done(error, value)
      }
    })
  }
  fastify.removeContentTypeParser('application/json')
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request: FastifyRequest, body: Buffer, done) => {
    if (V2_INFER.test(request.url)) done(null, body)
    else json(request, body, done)
  })
  // Any other type, or none: only /v2 takes it (raw for infer, else as JSON).
  fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (request: FastifyRequest, body: Buffer, done) => {
    if (V2_INFER.test(request.url)) done(null, body)
    else if (isV2(request.url)) json(request, body, done)
    else done(unsupportedMediaType(), undefined)
  })
}, { name: 'content-types', dependencies: ['errors'] })
