import fp from 'fastify-plugin'
// A type import: it brings @fastify/otel's request.opentelemetry() into Fastify's types.
import type {} from '@fastify/otel'
import { context, propagation, trace } from '@opentelemetry/api'
import { version } from '../package.json'
import { InferenceSpans, traceResponse } from '../lib/tracing/inference-spans'

declare module 'fastify' {
  interface FastifyInstance {
    /** With tracing on: the spans of inferences (lib/tracing), and a flush of the spans not yet exported. */
    tracing?: { spans: InferenceSpans, flush: () => Promise<void> }
  }
}

/**
 * OpenTelemetry tracing, on when OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, and then only: off, nothing of
 * it is registered and no request pays for it. Spans go over OTLP/HTTP
 * through the SDK's batch processor, which reads OTEL_BSP_* (as the
 * sampler reads OTEL_TRACES_SAMPLER and its argument). @fastify/otel makes
 * each request's span, in the trace of the caller's `traceparent` when it
 * sends one; the data plane adds the model's spans under it (lib/tracing);
 * every response says which trace served it in W3C's `traceresponse`
 * header. Registered before the routes, whose handlers it wraps.
 */
export default fp(async (fastify) => {
  const { tracing } = fastify.config
  if (tracing === undefined) return
  // The SDK is loaded only when tracing is on: its modules are about 5 MB of
  // heap, which every server would otherwise hold, and V8 sizes the heap
  // from what stays live.
  const [{ FastifyOtelInstrumentation }, { OTLPTraceExporter }, { resourceFromAttributes }, { BatchSpanProcessor, NodeTracerProvider }, { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION }] = await Promise.all([
    import('@fastify/otel'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/semantic-conventions')
  ])
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: tracing.serviceName, [ATTR_SERVICE_VERSION]: version }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: tracing.url }))]
  })
  // The global context manager (AsyncLocalStorage) and the W3C propagator.
  provider.register()
  const instrumentation = new FastifyOtelInstrumentation({ instrumentHooks: false })
  instrumentation.setTracerProvider(provider)
  await fastify.register(instrumentation.plugin())
  fastify.decorate('tracing', {
    spans: new InferenceSpans(provider.getTracer('onnx-serve', version)),
    flush: async () => await provider.forceFlush()
  })

  // Before @fastify/otel ends the span (its onSend is the route's last).
  fastify.addHook('onSend', (request, reply, payload, done) => {
    const span = request.opentelemetry().span
    if (span !== null && span !== undefined) {
      const { traceId, spanId } = span.spanContext()
      reply.header('traceresponse', traceResponse(span))
      if (request.facts !== null) request.facts.trace = { traceId, spanId }
    }
    done(null, payload)
  })

  fastify.addHook('onClose', async () => {
    await provider.shutdown()
    // Another app of the same process (the tests) may register its own.
    trace.disable()
    context.disable()
    propagation.disable()
  })
}, { name: 'tracing', dependencies: ['config'] })
