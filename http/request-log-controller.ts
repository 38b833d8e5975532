import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'

/**
 * Exactly one line per request, when it completes: method, url, status,
 * duration and, for inferences, what the data plane recorded (model,
 * version, rows, inference time, cache). Given to Fastify's constructor
 * (http/server-options), not registered; the request-log plugin declares
 * the request fields it reads.
 */
export class RequestLogController extends LogController {
  override incomingRequest (): void {}

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const err = error ?? request.failure ?? undefined
    const line = {
      req: request,
      res: reply,
      responseTime: Math.round(reply.elapsedTime * 100) / 100,
      ...request.facts?.inference,
      err
    }
    // 503 is the server saying "not now" on purpose (loading, draining, shedding), not a fault.
    if (reply.statusCode === 503) reply.log.warn(line, 'request completed')
    else if (err !== undefined || reply.statusCode >= 500) reply.log.error(line, 'request completed')
    else reply.log.info(line, 'request completed')
  }
}
