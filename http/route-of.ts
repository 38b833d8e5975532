import type { FastifyRequest } from 'fastify'

type RouteOptions = FastifyRequest['routeOptions']

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's route options once read (see routeOf); null until then. */
    routeSeen: RouteOptions | null
  }
}

/**
 * The route's options (url, config, bodyLimit), read once per request: every
 * `request.routeOptions` builds a new object, and half a dozen hooks ask for
 * it on every request. The request-log plugin declares the field.
 */
export function routeOf (request: FastifyRequest): RouteOptions {
  request.routeSeen ??= request.routeOptions
  return request.routeSeen
}
