// OpenTelemetry tracing, exported over OTLP/HTTP to a receiver inside the
// test: the caller's traceparent honoured, the request's span and the
// model's spans under it (queue, batch linked to its requests, compute,
// cache hit) for /predict, /v1 and /v2, the trace ids in the log line and
// the traceresponse header; nothing of it when tracing is off.

import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { buildApp } from '../helpers/build-app'
import { cachedIrisRepository, freshRow } from '../helpers/cached-repository'
import { buildLoggedApp } from '../helpers/logged-app'
import { grpcClientOf } from '../helpers/grpc-client'

interface ExportedSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  attributes: Array<{ key: string, value: { stringValue?: string, intValue?: string | number } }>
  links?: Array<{ traceId: string, spanId: string }>
}

interface Export {
  resourceSpans: Array<{
    resource: { attributes: ExportedSpan['attributes'] }
    scopeSpans: Array<{ spans: ExportedSpan[] }>
  }>
}

/** An OTLP/HTTP (JSON) receiver on 127.0.0.1: what it was sent. */
async function receiver (t: Test): Promise<{ url: string, spans: ExportedSpan[], services: Set<string> }> {
  const spans: ExportedSpan[] = []
  const services = new Set<string>()
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', chunk => { body += String(chunk) })
    req.on('end', () => {
      t.equal(req.url, '/v1/traces', 'traces go to <endpoint>/v1/traces')
      t.match(req.headers['content-type'], /application\/json/)
      const exported = JSON.parse(body) as Export
      for (const resource of exported.resourceSpans) {
        for (const attribute of resource.resource.attributes) if (attribute.key === 'service.name') services.add(attribute.value.stringValue ?? '')
        for (const scope of resource.scopeSpans) spans.push(...scope.spans)
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, services }
}

const attribute = (span: ExportedSpan | undefined, key: string): string | undefined => {
  const value = span?.attributes.find(entry => entry.key === key)?.value
  return value?.stringValue ?? (value?.intValue === undefined ? undefined : String(value.intValue))
}

const hex = (length: number): string => Array.from({ length }, () => Math.floor(Math.random() * 16).toString(16)).join('')

t.test('each protocol\'s inference in the caller\'s trace: request, model, queue, batch and compute spans, ids in the log', async t => {
  const otlp = await receiver(t)
  const logged = await buildLoggedApp(t, { MODEL_REPOSITORY: cachedIrisRepository(t), OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_SERVICE_NAME: 'onnx-serve-test' })
  const { app } = logged
  t.ok(app.hasPlugin('@fastify/otel'))
  const row = freshRow()
  const calls = [
    { id: 'trace-predict', url: '/predict', payload: { input_data: row } },
    { id: 'trace-v1', url: '/v1/models/iris:predict', payload: { instances: [freshRow(), freshRow()] } },
    { id: 'trace-v2', url: '/v2/models/iris/infer', payload: { inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: freshRow() }] } },
    { id: 'trace-hit', url: '/predict', payload: { input_data: row } }
  ].map(call => ({ ...call, traceId: hex(32), parentId: hex(16) }))
  for (const call of calls) {
    const res = await app.inject({ method: 'POST', url: call.url, payload: call.payload, headers: { 'x-request-id': call.id, traceparent: `00-${call.traceId}-${call.parentId}-01` } })
    t.equal(res.statusCode, 200, `${call.url}: 200`)
    t.match(res.headers.traceresponse, new RegExp(`^00-${call.traceId}-[0-9a-f]{16}-01$`), `${call.id}: the response names its trace`)
  }
  await app.tracing?.flush()
  t.strictSame([...otlp.services], ['onnx-serve-test'], 'OTEL_SERVICE_NAME')

  const byId = new Map(otlp.spans.map(span => [span.spanId, span]))
  const ancestors = (span: ExportedSpan): ExportedSpan[] => {
    const chain: ExportedSpan[] = []
    for (let parent = byId.get(span.parentSpanId ?? ''); parent !== undefined; parent = byId.get(parent.parentSpanId ?? '')) chain.push(parent)
    return chain
  }
  const childrenOf = (span: ExportedSpan): ExportedSpan[] => otlp.spans.filter(child => child.parentSpanId === span.spanId)
  for (const call of calls) {
    const inTrace = otlp.spans.filter(span => span.traceId === call.traceId)
    const request = inTrace.find(span => span.name === 'request')
    t.equal(request?.parentSpanId, call.parentId, `${call.id}: the request's span is a child of the caller's`)
    const model = inTrace.find(span => span.name === 'model')
    t.ok(model !== undefined && ancestors(model).includes(request as ExportedSpan), `${call.id}: the model span is under the request's`)
    t.equal(attribute(model, 'model.name'), 'iris')
    t.equal(attribute(model, 'model.version'), '1')
    t.equal(attribute(model, 'request.id'), call.id)
    const line = logged.linesOf(call.id)[0]
    t.match(line, { trace_id: call.traceId, span_id: request?.spanId }, `${call.id}: the log line names the trace and the request's span`)
    if (model === undefined) continue
    const under = childrenOf(model).map(span => span.name)
    if (call.id === 'trace-hit') {
      t.strictSame(under, ['cache_hit'], 'a cache hit: its own span, no queue, no run')
      t.notOk(otlp.spans.some(span => span.name === 'batch' && span.links?.some(link => link.spanId === model.spanId)), 'no batch served it')
      continue
    }
    t.ok(under.includes('queue'), `${call.id}: its wait in the batcher`)
    const batch = otlp.spans.find(span => span.name === 'batch' && span.links?.some(link => link.spanId === model.spanId && link.traceId === call.traceId))
    t.ok(batch, `${call.id}: the batch that served it links to its model span`)
    if (batch === undefined) continue
    t.strictSame(childrenOf(batch).map(span => span.name).sort(), ['compute_infer', 'compute_input', 'compute_output'])
    t.equal(attribute(batch, 'batch.rows'), call.id === 'trace-v1' ? '2' : '1')
  }
})

t.test('a gRPC call in the caller\'s trace: its server span from the traceparent metadata, the model\'s spans under it, ids in the log', async t => {
  const otlp = await receiver(t)
  const logged = await buildLoggedApp(t, { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url })
  const grpc = await grpcClientOf(t, logged.app)
  const traceId = hex(32)
  const parentId = hex(16)
  const answer = await grpc.call('ModelInfer', {
    model_name: 'iris',
    inputs: [{ name: 'features', datatype: 'FP32', shape: ['1', '4'] }],
    raw_input_contents: [Buffer.from(new Float32Array(freshRow()).buffer)]
  }, { metadata: { traceparent: `00-${traceId}-${parentId}-01`, 'x-request-id': 'trace-grpc' } })
  t.equal(answer.error, undefined)
  t.match(answer.trailers?.get('traceresponse')[0], new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`), 'the trailers name the trace')
  const refused = await grpc.call('ModelInfer', { model_name: 'iris', inputs: [] }, { metadata: { traceparent: `00-${traceId}-${parentId}-01` } })
  t.equal(refused.error?.code, 3)
  await logged.app.tracing?.flush()
  const inTrace = otlp.spans.filter(span => span.traceId === traceId)
  const calls = inTrace.filter(span => span.name === 'inference.GRPCInferenceService/ModelInfer')
  t.equal(calls.length, 2, 'a server span per call')
  t.ok(calls.every(span => span.parentSpanId === parentId), 'each a child of the caller\'s span')
  t.equal(attribute(calls[0], 'rpc.system'), 'grpc')
  t.strictSame(calls.map(span => attribute(span, 'rpc.grpc.status_code')).sort(), ['0', '3'], 'with its status code')
  const model = inTrace.find(span => span.name === 'model')
  t.ok(model !== undefined && calls.some(call => call.spanId === model.parentSpanId), 'the model span is under the call\'s')
  t.equal(attribute(model, 'request.id'), 'trace-grpc')
  t.match(logged.linesOf('trace-grpc')[0], { trace_id: traceId, span_id: model?.parentSpanId }, 'the log line names the trace and the call\'s span')
})

t.test('off without an endpoint: nothing registered, no header, no ids in the log', async t => {
  const logged = await buildLoggedApp(t, {})
  const { app } = logged
  t.notOk(app.hasPlugin('@fastify/otel'))
  t.equal(app.tracing, undefined)
  const res = await app.inject({ method: 'POST', url: '/predict', payload: { input_data: [5.1, 3.5, 1.4, 0.2] }, headers: { 'x-request-id': 'untraced', traceparent: `00-${hex(32)}-${hex(16)}-01` } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers.traceresponse, undefined)
  t.notOk('trace_id' in (logged.linesOf('untraced')[0] ?? {}))
})

t.test('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as it is; a bad one stops the start with its name', async t => {
  const otlp = await receiver(t)
  const app = await buildApp(t, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${otlp.url}/v1/traces` })
  t.equal((await app.inject({ method: 'GET', url: '/v1/models' })).statusCode, 200)
  await app.tracing?.flush()
  t.ok(otlp.spans.some(span => span.name === 'request'), 'spans arrived')
  await t.rejects(buildApp(t, { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }), /OTEL_EXPORTER_OTLP_ENDPOINT/)
})
