import { Transform, type Readable, type TransformCallback } from 'node:stream'
import { createGunzip, createInflate } from 'node:zlib'
import fp from 'fastify-plugin'
import { errorCodes } from 'fastify'
import { UNSUPPORTED_MEDIA_TYPE } from '../http/error-handler'
import { jsonBodyParser } from '../http/json-body-parser'
import { InputError, ServeError } from '../lib/errors'
import { routeOf } from '../http/route-of'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route takes gzip and deflate bodies (set for a whole scope, /v2, by an onRoute hook). */
    compressedBodies?: boolean
    /** The handler gets the body as a Buffer, whatever its content type (v2 infer decodes its own). */
    rawBody?: boolean
  }
}

function unsupportedMediaType (): ServeError {
  return new ServeError(415, 'FST_ERR_CTP_INVALID_MEDIA_TYPE', UNSUPPORTED_MEDIA_TYPE)
}

/**
 * Passes inflated bytes on until there are more than `limit` of them, then
 * fails with Fastify's own 413. Fastify counts the bytes too, but only stops
 * listening: the inflater would go on turning a 1 MB bomb into 1 GiB (a
 * second of CPU) after the answer. Failing here lets the caller destroy it.
 */
class InflatedBodyLimit extends Transform {
  /** The compressed bytes received, which Fastify checks against Content-Length. */
  receivedEncodedLength = 0
  private inflatedLength = 0

  constructor (private readonly limit: number) {
    super()
  }

  override _transform (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.inflatedLength += chunk.length
    if (this.inflatedLength > this.limit) callback(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE())
    else callback(null, chunk)
  }

  countEncoded (length: number): void {
    this.receivedEncodedLength += length
    // Compressed data may inflate to nothing (empty blocks): bound what is read as well.
    if (this.receivedEncodedLength > this.limit) this.destroy(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE())
  }
}

/**
 * `payload` inflated with gzip or deflate, ending in a 413 at `limit`
 * inflated (or received) bytes or a 400 for bad data. On either, and when the
 * client goes away, the inflater is destroyed at once and `payload` unpiped,
 * so the rest of a bomb is never inflated.
 */
function inflated (payload: Readable, encoding: 'gzip' | 'deflate', limit: number): InflatedBodyLimit {
  const inflate = encoding === 'gzip' ? createGunzip() : createInflate()
  const body = new InflatedBodyLimit(limit)
  const onData = (chunk: Buffer): void => body.countEncoded(chunk.length)
  payload.on('data', onData)
  inflate.on('error', (error: Error) => {
    body.destroy(Object.assign(error, { statusCode: 400, message: `body: not valid ${encoding} data (${error.message})` }))
  })
  body.once('close', () => {
    payload.removeListener('data', onData)
    payload.unpipe(inflate)
    inflate.destroy()
  })
  // A client that disconnects mid-body: nothing will end the inflater otherwise.
  payload.once('close', () => { if (!payload.readableEnded) body.destroy() })
  payload.pipe(inflate).pipe(body)
  return body
}

/**
 * Requests are HTTP/1.1 with a Host header and JSON bodies. Fastify also
 * parses text/plain by default, which would turn a wrong content type into a
 * confusing validation error instead of 415. Bodies are not compressed,
 * except on routes that say they take gzip or deflate (the /v2 scope, as
 * NVIDIA's tritonclient sends them); those are inflated only up to BODY_LIMIT.
 */
export default fp(async (fastify) => {
  // HTTP/1.1 requires Host (RFC 9112 §3.2).
  fastify.addHook('onRequest', (request, _reply, done) => {
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      done(new InputError('headers.host', 'headers.host: an HTTP/1.1 request must carry a Host header'))
      return
    }
    done()
  })

  // Node answers `Expect: 100-continue` with 100 Continue as soon as the
  // headers arrive, inviting the body before any check. Such a request is
  // dispatched as any other, and 100 Continue sent here, once the onRequest
  // hooks (auth, the quota) have let it through and its body is about to be
  // read: a refused client never sends its body.
  fastify.server.on('checkContinue', (request, response) => fastify.server.emit('request', request, response))

  fastify.addHook('preParsing', (request, reply, payload, done) => {
    if (request.headers.expect?.toLowerCase() === '100-continue' && !reply.raw.headersSent) reply.raw.writeContinue()
    const encoding = (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase()
    if (encoding === 'identity') {
      done(null, payload)
      return
    }
    const compressed = routeOf(request).config.compressedBodies === true
    if (!compressed || (encoding !== 'gzip' && encoding !== 'deflate')) {
      done(new ServeError(415, 'FST_ERR_CTP_INVALID_CONTENT_ENCODING', `Content-Encoding '${encoding.slice(0, 40)}' is not supported${compressed ? '; use gzip, deflate or none' : ''}`))
      return
    }
    // Fastify checks Content-Length against the bytes received, and BODY_LIMIT
    // against the inflated ones; inflating stops at BODY_LIMIT.
    done(null, inflated(payload, encoding, routeOf(request).bodyLimit))
  })

  fastify.removeContentTypeParser(['text/plain', 'application/json'])
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer' }, jsonBodyParser)
  // Any other type, or none.
  fastify.addContentTypeParser('*', (_request, _payload, done) => done(unsupportedMediaType(), undefined))
}, { name: 'content-types', dependencies: ['errors'] })
