import fp from 'fastify-plugin'
import type { RequestFacts } from '../lib/data-plane/infer-codec'
import '../http/route-of'

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * What the data plane records of the request (its inference), for its log
     * line and the metrics. Set by the first onRequest hook; a request refused
     * before any hook ran (a malformed URL) has none.
     */
    facts: RequestFacts
    /** An error answered with a 5xx (set by the error handler), logged with its stack on the request's line. */
    failure: Error | null
  }
}

/**
 * The first step of every request: its id travels back to the client in
 * `x-request-id`, and it gets the facts object the data plane fills in. The
 * one log line per request is written by http/request-log-controller.
 */
export default fp(async (fastify) => {
  // Every request gets its own object in the hook below, before any route reads it.
  fastify.decorateRequest('facts', null as unknown as RequestFacts)
  fastify.decorateRequest('failure', null)
  fastify.decorateRequest('routeSeen', null)
  fastify.addHook('onRequest', (request, reply, done) => {
    request.facts = { requestId: request.id }
    reply.header('x-request-id', request.id)
    done()
  })
}, { name: 'request-log' })
