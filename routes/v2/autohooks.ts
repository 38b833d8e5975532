import type { FastifyInstance } from 'fastify'
import { errorHandler } from '../../http/error-handler'
import { jsonBodyParser } from '../../http/json-body-parser'
import { protocolErrorBody } from '../../schemas/errors'
import { routeOf } from '../../http/route-of'

/**
 * The Open Inference Protocol's own scope, for every route under /v2
 * (@fastify/autoload registers this first in the folder's context): errors
 * as `{"error": message}`, which its clients parse (the not-found handler,
 * which needs the /v2 prefix, is set in index.ts); bodies as NVIDIA's
 * tritonclient sends them, without a content type and compressed with gzip
 * or deflate; an empty body is an empty request (Triton's repository
 * calls); the infer routes get the raw body (JSON, or JSON then binary tensors).
 */
export default async function v2Scope (fastify: FastifyInstance): Promise<void> {
  fastify.setErrorHandler(errorHandler(protocolErrorBody))
  fastify.addHook('onRoute', (route) => {
    route.config = { ...route.config, compressedBodies: true }
  })

  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body: Buffer, done) => {
    if (routeOf(request).config.rawBody === true) done(null, body)
    else if (body.length === 0) done(null, undefined)
    else jsonBodyParser(request, body, done)
  })
}
