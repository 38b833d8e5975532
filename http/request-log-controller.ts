import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'
import { writeInfoLine } from './request-log-line'

/**
 * Exactly one line per request, when it completes: method, url, status,
 * duration and, for inferences, what the data plane recorded (model,
 * version, rows, inference time, cache). Given to Fastify's constructor
 * (http/server-options), not registered; the request-log plugin declares
 * the request fields it reads.
 */
export class RequestLogController extends LogController {
  /** `prebuilt` false: every line through pino (the reference the pre-built line is tested against). */
  constructor (private readonly prebuilt = true) {
    super()
  }

  override incomingRequest (): void {}

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const err = error ?? request.failure ?? undefined
    const responseTime = Math.round(reply.elapsedTime * 100) / 100
    const info = err === undefined && reply.statusCode < 500
    if (info && this.prebuilt && writeInfoLine(request, reply, responseTime)) return
    const trace = request.facts?.trace
    const line = { req: request, res: reply, responseTime, ...request.facts?.inference, ...(trace === undefined ? {} : { trace_id: trace.traceId, span_id: trace.spanId }), err }
    // 503 is the server saying "not now" on purpose (loading, draining, shedding), not a fault.
    if (reply.statusCode === 503) reply.log.warn(line, 'request completed')
    else if (!info) reply.log.error(line, 'request completed')
    else reply.log.info(line, 'request completed')
  }
}
