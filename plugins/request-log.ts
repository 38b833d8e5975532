import fp from 'fastify-plugin'
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'
import type { InferenceLog } from '../lib/data-plane/data-plane'

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by prediction routes, for the request's log line. */
    inference: InferenceLog | null
    /** An error answered with a 5xx (set by the errors plugin), logged with its stack on the request's line. */
    failure: Error | null
  }
}

/**
 * Exactly one line per request, when it completes: method, url, status,
 * duration and, for predictions, the model, version, rows and inference time.
 * Given to Fastify's constructor (server options), not registered.
 */
export class RequestLogController extends LogController {
  override incomingRequest (): void {}

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const err = error ?? request.failure ?? undefined
    const line = {
      req: request,
      res: reply,
      responseTime: Math.round(reply.elapsedTime * 100) / 100,
      ...request.inference,
      err
    }
    // 503 is the server saying "not now" on purpose (loading, draining, shedding), not a fault.
    if (reply.statusCode === 503) reply.log.warn(line, 'request completed')
    else if (err !== undefined || reply.statusCode >= 500) reply.log.error(line, 'request completed')
    else reply.log.info(line, 'request completed')
  }
}

/** The request id travels back to the client in `x-request-id`. */
export default fp(async (fastify) => {
  fastify.decorateRequest('inference', null)
  fastify.decorateRequest('failure', null)
  fastify.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
}, { name: 'request-log' })
