// What every gRPC call goes through before the data plane, in HTTP's order
// and with HTTP's code (plugins/auth, plugins/rate-limit): a request id,
// load shedding and draining, the bearer token from the `authorization`
// metadata and the call's scope, the identity's quota (one quota across
// both transports), then the call's own work; and after it, one log line
// and the metrics. Refusals are gRPC statuses with HTTP's messages (status.ts).

import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { Metadata, status, type ServerUnaryCall } from '@grpc/grpc-js'
import { SpanStatusCode, type Span } from '@opentelemetry/api'
import { traceResponse } from '../lib/tracing/inference-spans'
import type { FastifyInstance } from 'fastify'
import type { Scope, TokenClaims } from '../plugins/auth'
import { quotaKey } from '../plugins/rate-limit'
import type { RequestFacts } from '../lib/data-plane/infer-codec'
import { OverloadedError, TooManyRequestsError, UnavailableError } from '../lib/errors'
import { REQUEST_ID } from '../http/server-options'
import { outcomeOf } from '../plugins/metrics'
import { infoLineMode, writeInfo } from '../lib/logs/info-line'
import { observeInference } from '../lib/metrics/server-metrics'
import { callLine, callLineFields } from './call-log-line'
import { SERVICE } from './service-definition'
import { httpStatusOf } from './status'

/** What every call has, unary or a stream: its metadata, peer and deadline. */
export type SurfaceCall = Pick<ServerUnaryCall<unknown, unknown>, 'metadata' | 'getPeer' | 'getDeadline'>

/** How a call is admitted: public (health), or with a token of this scope. */
export interface CallPolicy {
  /** The RPC's name, for logs and metrics: ModelInfer, ServerLive, … */
  method: string
  scope?: Scope
  /** false: answered even while shedding or draining (the health RPCs). */
  shed?: boolean
}

/** One admitted call (or one message of a stream): its id, caller and facts, for the data plane and the log. */
export interface CallContext {
  requestId: string
  /** The client's address, for the log line. */
  address: string
  /** The model an inference names, for the metrics' label when it fails before the data plane records it. */
  model?: string
  claims?: TokenClaims
  facts: RequestFacts
  startedAt: number
  /** With tracing on: the call's server span. */
  span?: Span
}

/** The address of a call's peer ("127.0.0.1:5050", "[::1]:5050"), without its port. */
function peerAddress (peer: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(peer)
  if (bracketed !== null) return bracketed[1]
  const v4 = /^(\d+\.\d+\.\d+\.\d+)(?::\d+)?$/.exec(peer)
  return v4 === null ? peer : v4[1]
}

function firstValue (metadata: Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0]
  return typeof value === 'string' ? value : undefined
}

/** The deadline of a call (Date.now() time); undefined when it has none. */
export function deadlineOf (call: SurfaceCall): number | undefined {
  const deadline = call.getDeadline()
  const at = deadline instanceof Date ? deadline.getTime() : deadline
  return Number.isFinite(at) ? at : undefined
}

export class CallPipeline {
  constructor (private readonly fastify: FastifyInstance) {}

  /**
   * A call's (or a stream message's) context: its request id (the client's
   * x-request-id when valid), its deadline, and with tracing on its span, in
   * the caller's trace when its metadata carries a `traceparent`.
   */
  begin (call: SurfaceCall, method: string): CallContext {
    const given = firstValue(call.metadata, 'x-request-id')
    const requestId = given !== undefined && REQUEST_ID.test(given) ? given : randomUUID()
    const deadline = deadlineOf(call)
    const context: CallContext = { requestId, address: peerAddress(call.getPeer()), facts: { requestId, ...(deadline === undefined ? {} : { deadline }) }, startedAt: performance.now() }
    const spans = this.fastify.tracing?.spans
    if (spans !== undefined) {
      const carrier: Record<string, string> = {}
      for (const [key, value] of Object.entries(call.metadata.getMap())) if (typeof value === 'string') carrier[key] = value
      context.span = spans.startCallSpan(`${SERVICE}/${method}`, carrier, { 'rpc.system': 'grpc', 'rpc.service': SERVICE, 'rpc.method': method, 'request.id': requestId })
      const { traceId, spanId } = context.span.spanContext()
      context.facts.trace = { traceId, spanId }
    }
    return context
  }

  /** A call's trailers: its request id, and with tracing on its trace as W3C's traceresponse. */
  trailers (context: CallContext): Metadata {
    const metadata = new Metadata()
    metadata.set('x-request-id', context.requestId)
    if (context.span !== undefined) metadata.set('traceresponse', traceResponse(context.span))
    return metadata
  }

  /** Runs a call's work in its span, when it has one. */
  async within<T> (context: CallContext, work: () => Promise<T>): Promise<T> {
    const spans = this.fastify.tracing?.spans
    return context.span === undefined || spans === undefined ? await work() : await spans.within(context.span, work)
  }

  /**
   * Admits a call under `policy`, or throws the refusal (our own errors):
   * shed or draining, then the token and the scope, then the quota,
   * charged for every call and every message of a stream. `streamOpen`: a
   * message of a stream opened before: served while draining, as requests
   * in flight are.
   */
  async admit (call: SurfaceCall, context: CallContext, policy: CallPolicy, { streamOpen = false } = {}): Promise<void> {
    await this.authorize(call, context, policy, { streamOpen })
    if (policy.scope === undefined) return
    await this.fastify.chargeQuota(quotaKey(context.claims?.sub, context.address))
  }

  /** The token of a call's metadata, verified (the failed-authentication limit applies); its claims, or the refusal thrown. */
  async verify (call: SurfaceCall): Promise<TokenClaims> {
    return await this.fastify.authenticate({ authorization: firstValue(call.metadata, 'authorization'), address: peerAddress(call.getPeer()) })
  }

  /** admit() without the quota: a stream is authorized when it opens, and each of its messages is admitted. */
  async authorize (call: SurfaceCall, context: CallContext, policy: CallPolicy, { streamOpen = false } = {}): Promise<void> {
    const { fastify } = this
    if (policy.shed !== false) {
      if (fastify.lifecycle.draining && !streamOpen) throw new UnavailableError('the server is shutting down; retry on another instance', 1)
      // In HTTP's words (plugins/load-shedding), with the delay measured.
      if (fastify.overloaded()) throw new OverloadedError(`the server is overloaded (eventLoopDelay ${Math.round(fastify.memoryUsage().eventLoopDelay)}); retry shortly`)
    }
    if (policy.scope === undefined) return
    context.claims = await this.verify(call)
    fastify.requireScope(context.claims, policy.scope)
  }

  /**
   * After a call (or a stream's message): its log line and metrics, under
   * the code the client got (`code`; for an answer made after the client
   * gave up, CANCELLED or DEADLINE_EXCEEDED as it saw).
   */
  finish (policy: CallPolicy, context: CallContext, code: status, error?: unknown): void {
    const { fastify } = this
    const responseTime = performance.now() - context.startedAt
    if (error instanceof TooManyRequestsError) fastify.metrics.rateLimited.inc({ reason: error.reason })
    fastify.metrics.grpcCallDuration.observe({ method: policy.method, code: String(code) }, responseTime / 1000)
    const inference = context.facts.inference
    if (policy.method === 'ModelInfer' || policy.method === 'ModelStreamInfer') {
      // A model label is a model this server knows: a client naming others must not create series.
      const model = inference === undefined ? fastify.dataPlane.modelLabel(context.model) : inference.model
      observeInference(fastify.metrics, model, inference, outcomeOf(httpStatusOf(code)), 'grpc')
    }
    if (context.span !== undefined) {
      context.span.setAttribute('rpc.grpc.status_code', code)
      if (code !== status.OK) context.span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : status[code] })
      context.span.end()
    }
    const internal = error !== undefined && httpStatusOf(code) >= 500 && httpStatusOf(code) !== 503 && httpStatusOf(code) !== 504
    if (internal) {
      fastify.log.error({ ...callLine(policy.method, context, code, responseTime), err: error }, 'call failed')
      return
    }
    const mode = infoLineMode(fastify.log)
    if (mode === 'write') writeInfo(fastify.log, callLineFields(policy.method, context, code, responseTime), 'call completed')
    else if (mode === 'pino') fastify.log.info(callLine(policy.method, context, code, responseTime), 'call completed')
  }
}
