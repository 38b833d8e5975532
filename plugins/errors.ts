import fp from 'fastify-plugin'
import { errorHandler } from '../http/error-handler'
import { notFound } from '../http/not-found'
import { fastifyErrorBody } from '../schemas/errors'

/**
 * Errors in Fastify's JSON shape, and unknown URLs answered 404 before their
 * body is read: nobody makes the server read (or inflate) a body no route
 * wants. preParsing runs after every onRequest hook (the request pipeline in
 * app.ts: unknown URLs are charged to the quota there, so nobody scans for
 * URLs cheaply) and before the body parser; a 404 sent from there leaves the
 * body on the wire (the connection-limits plugin then closes the connection).
 */
export default fp(async (fastify) => {
  fastify.setErrorHandler(errorHandler(fastifyErrorBody))
  fastify.addHook('preParsing', (request, _reply, payload, done) => {
    if (request.is404) done(notFound(request))
    else done(null, payload)
  })
  // Reached only through reply.callNotFound(): the hook above answers unknown URLs.
  fastify.setNotFoundHandler(async (request) => { throw notFound(request) })
}, { name: 'errors', dependencies: ['request-log'] })
