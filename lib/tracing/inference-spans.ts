// OpenTelemetry spans of an inference, as Triton traces one: under the
// request's span, a `model` span (name, version, request id) per request,
// with its wait in the dynamic batcher as a `queue` span and a prediction
// cache hit as a `cache_hit` span; each run as a `batch` span (under the
// first request it served, linked to the model span of every one), with
// `compute_input`, `compute_infer` and `compute_output` under it. A run is
// spanned once it ends, with the times the batcher measured: the batcher
// knows nothing of tracing, and none of this runs when tracing is off.

import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api'
import type { RunTimes } from '../stats/model-statistics'

/** What a model span says of its request. */
export interface ModelSpanAttributes {
  model: string
  version: number
  requestId?: string
}

/** W3C's traceresponse value for a server's span: which trace served a request. */
export function traceResponse (span: Span): string {
  const { traceId, spanId, traceFlags } = span.spanContext()
  return `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, '0')}`
}

function isSpan (tag: unknown): tag is Span {
  return typeof tag === 'object' && tag !== null && typeof (tag as Partial<Span>).spanContext === 'function'
}

export class InferenceSpans {
  constructor (private readonly tracer: Tracer) {}

  /**
   * The server span of a call of a transport without its own
   * instrumentation (gRPC), in the trace the caller's `traceparent` names
   * (`carrier`: its metadata); the caller ends it.
   */
  startCallSpan (name: string, carrier: Record<string, string>, attributes: Attributes): Span {
    return this.tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, propagation.extract(ROOT_CONTEXT, carrier))
  }

  /** Runs `work` with `span` active, so the model spans of its inference go under it. */
  async within<T> (span: Span, work: () => Promise<T>): Promise<T> {
    return await context.with(trace.setSpan(context.active(), span), work)
  }

  /** Runs `inference` in a new model span under the active one (the request's); the span ends with it, in error if it throws. */
  async inModelSpan<T> (attributes: ModelSpanAttributes, inference: (span: Span) => Promise<T>): Promise<T> {
    const span = this.tracer.startSpan('model', {
      attributes: {
        'model.name': attributes.model,
        'model.version': String(attributes.version),
        ...(attributes.requestId === undefined ? {} : { 'request.id': attributes.requestId })
      }
    })
    try {
      return await context.with(trace.setSpan(context.active(), span), async () => await inference(span))
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) })
      throw error
    } finally {
      span.end()
    }
  }

  /**
   * Each request's wait in the batcher, ending now, under its model span.
   * `modelSpans` are the batcher's tags: the model spans inModelSpan gave
   * the requests (undefined for a request not traced).
   */
  queued (modelSpans: readonly unknown[], waitsMs: readonly number[]): void {
    const now = performance.now()
    modelSpans.forEach((parent, i) => {
      if (isSpan(parent)) this.child(parent, 'queue', now - waitsMs[i], now)
    })
  }

  /** A run that has just ended: its stages, under the first traced request it served, linked to every one. */
  executed (modelSpans: readonly unknown[], rows: number, times: RunTimes): void {
    const traced = modelSpans.filter(isSpan)
    if (traced.length === 0) return
    const end = performance.now()
    const start = end - times.inputMs - times.inferMs - times.outputMs
    const batch = this.tracer.startSpan('batch', {
      startTime: start,
      attributes: { 'batch.rows': rows, 'batch.requests': modelSpans.length },
      links: traced.map(span => ({ context: span.spanContext() }))
    }, trace.setSpan(context.active(), traced[0]))
    this.child(batch, 'compute_input', start, start + times.inputMs)
    this.child(batch, 'compute_infer', start + times.inputMs, end - times.outputMs)
    this.child(batch, 'compute_output', end - times.outputMs, end)
    batch.end(end)
  }

  /** A prediction cache hit that took `ms`, ending now. */
  cacheHit (modelSpan: Span, ms: number): void {
    const now = performance.now()
    this.child(modelSpan, 'cache_hit', now - ms, now)
  }

  private child (parent: Span, name: string, start: number, end: number): void {
    this.tracer.startSpan(name, { startTime: start }, trace.setSpan(context.active(), parent)).end(end)
  }
}
