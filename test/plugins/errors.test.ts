import { STATUS_CODES } from 'node:http'
import t from 'tap'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { InferenceTimeoutError, OverloadedError, UnavailableError } from '../../lib/errors'
import { fixtureRepository } from '../helpers/build-app'
import { buildLoggedApp, type LoggedApp } from '../helpers/logged-app'
import { assertError } from '../helpers/responses'

const SECRET = 'connect ECONNREFUSED postgres://admin:hunter2@10.0.0.7/models'

function httpError (message: string, statusCode: number, code?: string): Error {
  return Object.assign(new Error(message), { statusCode, code })
}

// Test-only routes that fail in the ways the handler must tell apart.
function failingRoutes (fastify: FastifyInstance): void {
  fastify.get('/test/throw', async () => { throw new Error(SECRET) })
  // A non-Error thrown by some dependency.
  fastify.get('/test/throw-string', async () => { throw SECRET })
  fastify.get('/test/reject-later', async () => {
    await new Promise(resolve => setImmediate(resolve))
    throw new TypeError(SECRET)
  })
  fastify.get('/test/status-200', async () => { throw httpError(SECRET, 200) })
  fastify.get('/test/plugin-503', async () => { throw httpError(SECRET, 503, 'FST_UNDER_PRESSURE') })
  fastify.get('/test/plugin-503-retry', async (_request, reply) => {
    reply.header('retry-after', '10')
    throw httpError(SECRET, 503, 'FST_UNDER_PRESSURE')
  })
  fastify.get('/test/client-409', async () => { throw httpError('the model is being replaced', 409, 'ONNX_SERVE_CONFLICT') })
  fastify.get('/test/unavailable', async () => { throw new UnavailableError('model \'x\' is loading') })
  fastify.get('/test/overloaded', async () => { throw new OverloadedError('the inference queue is full (256 runs); retry shortly') })
  fastify.get('/test/timeout', async () => { throw new InferenceTimeoutError('inference took longer than 30000 ms') })
  fastify.get('/test/call-not-found', (_request, reply) => { reply.callNotFound() })
}

let logged: LoggedApp
let app: FastifyInstance
t.before(async () => {
  logged = await buildLoggedApp(t, { MODEL_REPOSITORY: fixtureRepository(t), BODY_LIMIT: '1024' }, failingRoutes)
  app = logged.app
})

function get (url: string, id?: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'GET', url, headers: id === undefined ? {} : { 'x-request-id': id } })
}

t.test('an internal error is a 500 that says nothing of internals', async t => {
  for (const url of ['/test/throw', '/test/throw-string', '/test/reject-later', '/test/status-200']) {
    const res = await get(url)
    assertError(t, res, { statusCode: 500, code: 'INTERNAL_SERVER_ERROR', message: 'Internal Server Error' })
    t.notOk(res.body.includes('hunter2'), `${url}: the body does not leak the error message`)
    t.notOk(res.body.includes('stack'), `${url}: no stack in the body`)
    t.equal(res.headers['retry-after'], undefined, `${url}: no retry-after on a 500`)
  }
})

t.test('a 500\'s log line has the request id, the message and the stack', async t => {
  await get('/test/throw', 'boom-1')
  const lines = logged.linesOf('boom-1')
  t.equal(lines.length, 1, 'one line for the request')
  const [line] = lines
  t.equal(line.level, 50, 'logged as an error')
  t.match(line, { reqId: 'boom-1', res: { statusCode: 500 }, req: { method: 'GET', url: '/test/throw' } })
  const err = line.err as { message: string, stack: string, type: string }
  t.equal(err.type, 'Error')
  t.equal(err.message, SECRET)
  t.match(err.stack, /^Error: connect ECONNREFUSED[^\n]*\n\s+at /, 'the stack is logged')
})

t.test('a 5xx status an error carries on purpose is kept, without its message, and a 503 has retry-after', async t => {
  const res = await get('/test/plugin-503', 'shed-1')
  assertError(t, res, { statusCode: 503, code: 'SERVICE_UNAVAILABLE', message: 'Service Unavailable' })
  t.notOk(res.body.includes('hunter2'))
  t.equal(res.headers['retry-after'], '5', 'a default retry-after')
  const withRetry = await get('/test/plugin-503-retry')
  assertError(t, withRetry, { statusCode: 503, code: 'SERVICE_UNAVAILABLE', message: 'Service Unavailable' })
  t.equal(withRetry.headers['retry-after'], '10', 'the plugin\'s own retry-after is kept')
  const lines = logged.linesOf('shed-1')
  t.equal(lines.length, 1, 'one log line')
  // A 503 is the server saying "not now" on purpose: a warning, not an error, still with the error
  t.match(lines[0], { level: 40, err: { message: SECRET } }, 'the log line has the real message, at warn level')
})

t.test('our 503s carry retry-after and their message', async t => {
  const unavailable = await get('/test/unavailable', 'unavailable-1')
  assertError(t, unavailable, { statusCode: 503, code: 'ONNX_SERVE_UNAVAILABLE', message: 'model \'x\' is loading' })
  t.equal(unavailable.headers['retry-after'], '5')
  const overloaded = await get('/test/overloaded')
  assertError(t, overloaded, { statusCode: 503, code: 'ONNX_SERVE_OVERLOADED', message: 'the inference queue is full (256 runs); retry shortly' })
  t.equal(overloaded.headers['retry-after'], '1')
  const lines = logged.linesOf('unavailable-1')
  t.equal(lines.length, 1, 'one log line')
  t.match(lines[0], { level: 40, err: { type: 'UnavailableError', message: 'model \'x\' is loading' } }, 'a 503 is logged at warn level, with its error')
})

t.test('a real 503: a model that cannot be served', async t => {
  const res = await app.inject({ method: 'POST', url: '/v1/models/broken/predict', payload: { instances: [[1, 2]] } })
  assertError(t, res, { statusCode: 503, code: 'ONNX_SERVE_UNAVAILABLE', message: /^model 'broken' is unavailable: / })
  t.equal(res.headers['retry-after'], '5')
})

t.test('a 504 keeps its message', async t => {
  const res = await get('/test/timeout', 'timeout-1')
  assertError(t, res, { statusCode: 504, code: 'ONNX_SERVE_INFERENCE_TIMEOUT', message: 'inference took longer than 30000 ms' })
  const lines = logged.linesOf('timeout-1')
  t.equal(lines.length, 1, 'one log line')
  t.match(lines[0], { level: 50, err: { type: 'InferenceTimeoutError', message: 'inference took longer than 30000 ms' } }, 'a 5xx other than 503 is logged as an error')
})

t.test('a 4xx keeps its status, code and message', async t => {
  const res = await get('/test/client-409')
  assertError(t, res, { statusCode: 409, code: 'ONNX_SERVE_CONFLICT', message: 'the model is being replaced' })
})

t.test('an unknown route is a JSON 404 naming the method and path, without the query', async t => {
  assertError(t, await get('/nope?token=abc'), { statusCode: 404, code: 'NOT_FOUND', message: 'Route GET:/nope not found' })
  assertError(t, await app.inject({ method: 'DELETE', url: '/v1/models/sum' }),
    { statusCode: 404, code: 'NOT_FOUND', message: 'Route DELETE:/v1/models/sum not found' })
  assertError(t, await app.inject({ method: 'POST', url: '/v1/models' }),
    { statusCode: 404, code: 'NOT_FOUND', message: 'Route POST:/v1/models not found' })
  const long = await get(`/${'x'.repeat(5000)}`)
  assertError(t, long, { statusCode: 404, code: 'NOT_FOUND', message: `Route GET:/${'x'.repeat(199)} not found` })
})

t.test('an unknown route is answered before its body is read: whatever the body, a 404 with one log line', async t => {
  const requests: InjectOptions[] = [
    // BODY_LIMIT is 1024 here: reading this body would have been a 413.
    { method: 'POST', url: '/nope', headers: { 'x-request-id': 'unread-1' }, payload: { input_data: 'x'.repeat(5000) } },
    // Neither a content type nor an encoding anything parses: would have been a 415.
    { method: 'POST', url: '/nope', headers: { 'x-request-id': 'unread-2', 'content-type': 'application/xml', 'content-encoding': 'br' }, payload: '<x/>' },
    { method: 'PUT', url: '/predict', headers: { 'x-request-id': 'unread-3' }, payload: { input_data: [1, 2, 3, 4] } }
  ]
  for (const request of requests) {
    const res = await app.inject(request)
    const id = String(request.headers?.['x-request-id'])
    assertError(t, res, { statusCode: 404, code: 'NOT_FOUND', message: `Route ${String(request.method)}:${String(request.url)} not found` }, id)
    t.equal(res.headers['x-request-id'], id, `${id}: the request id is echoed`)
    t.match(res.headers['x-ratelimit-remaining'], /^\d+$/, `${id}: counted by the rate limit`)
    const lines = logged.linesOf(id)
    t.equal(lines.length, 1, `${id}: one log line`)
    t.match(lines[0], { level: 30, res: { statusCode: 404 } }, `${id}: logged at info level`)
  }
})

t.test('reply.callNotFound() from a route gives the same 404', async t => {
  assertError(t, await get('/test/call-not-found'), { statusCode: 404, code: 'NOT_FOUND', message: 'Route GET:/test/call-not-found not found' })
})

t.test('every error outside /v2 has exactly {statusCode, code, error, message}', async t => {
  const requests: Array<[number, InjectOptions]> = [
    [404, { method: 'GET', url: '/no/such/route' }],
    [404, { method: 'GET', url: '/v1/models/nope' }],
    [404, { method: 'POST', url: '/v1/models/sum/versions/9/predict', payload: { instances: [[1, 2, 3]] } }],
    [400, { method: 'GET', url: '/v1/models/..%2Fetc' }],
    [400, { method: 'POST', url: '/v1/models/sum/versions/abc/predict', payload: { instances: [[1, 2, 3]] } }],
    [400, { method: 'POST', url: '/v1/models/sum/predict', payload: { instances: [[1, 2]] } }],
    [400, { method: 'POST', url: '/predict', payload: {} }],
    [400, { method: 'POST', url: '/predict', headers: { 'content-type': 'application/json' }, payload: '{' }],
    [413, { method: 'POST', url: '/predict', payload: { input_data: 'x'.repeat(2000) } }],
    [415, { method: 'POST', url: '/predict', headers: { 'content-type': 'application/xml' }, payload: '<x/>' }],
    [503, { method: 'GET', url: '/v1/models/broken' }],
    [500, { method: 'GET', url: '/test/throw' }],
    [400, { method: 'GET', url: '/v1/models/%zz' }],
    [414, { method: 'GET', url: `/v1/models/${'a'.repeat(201)}` }],
    [415, { method: 'POST', url: '/predict', headers: { 'content-type': 'text/plain' }, payload: 'hello' }]
  ]
  for (const [status, request] of requests) {
    const res = await app.inject(request)
    const what = `${String(request.method)} ${String(request.url)}`
    t.equal(res.statusCode, status, `${what}: status`)
    t.match(res.headers['content-type'], /^application\/json/, `${what}: JSON`)
    const body = res.json<Record<string, unknown>>()
    t.strictSame(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'], `${what}: keys`)
    t.equal(body.statusCode, status, `${what}: body.statusCode`)
    t.equal(body.error, STATUS_CODES[status], `${what}: body.error`)
    t.type(body.code, 'string', `${what}: body.code`)
    t.type(body.message, 'string', `${what}: body.message`)
  }
})

t.test('framework URL errors are answered in our JSON shape', async t => {
  const res = await get('/v1/models/%zz', 'bad-url-1')
  assertError(t, res, { statusCode: 400, code: 'FST_ERR_BAD_URL', message: "'/v1/models/%zz' is not a valid url component" })
  t.equal(res.headers['x-request-id'], 'bad-url-1', 'a malformed URL still gets its request id')

  // Model names may be 128 characters: segments up to 200 reach the route, longer ones are a 414
  const long = await get(`/v1/models/${'a'.repeat(201)}`)
  assertError(t, long, { statusCode: 414, code: 'FST_ERR_MAX_PARAM_LENGTH', message: `'/v1/models/${'a'.repeat(201)}' is exceeding the max param length` })
  const longest = await get(`/v1/models/${'a'.repeat(200)}`)
  assertError(t, longest, {
    statusCode: 400,
    code: 'FST_ERR_VALIDATION',
    message: 'params.name: expected a model name: up to 128 letters, digits, _ . or -, starting with a letter or digit, received a string'
  })
})

t.test('framework URL errors have one log line, and the 414 an x-request-id', async t => {
  await get('/v1/models/%zz', 'bad-url-2')
  t.equal(logged.linesOf('bad-url-2').length, 1, 'one log line for a malformed URL')
  const long = await get(`/v1/models/${'a'.repeat(201)}`, 'long-url-1')
  t.equal(long.headers['x-request-id'], 'long-url-1', 'the 414 echoes the request id')
  t.equal(logged.linesOf('long-url-1').length, 1, 'one log line for a 414')
})
