import type { FastifyRequest } from 'fastify'
import { ServeError } from '../lib/errors'

/**
 * The refusal of a URL no route serves. Its code is Fastify's NOT_FOUND: a
 * client tells it from a route that exists but names an unknown model or
 * version (ONNX_SERVE_NOT_FOUND, lib/errors).
 */
export function notFound (request: FastifyRequest): ServeError {
  const path = request.url.split('?')[0].slice(0, 200)
  return new ServeError(404, 'NOT_FOUND', `Route ${request.method}:${path} not found`)
}
