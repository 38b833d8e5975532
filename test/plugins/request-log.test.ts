import t from 'tap'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { InferenceTimeoutError, UnavailableError } from '../../lib/errors'
import { buildLoggedApp, type LoggedApp, type LogLine } from '../helpers/logged-app'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.SECRET-SIGNATURE-4f9a'
const COOKIE = 'session=COOKIE-SECRET-77'
const setosa = [5.1, 3.5, 1.4, 0.2]
const virginica = [6.7, 3.0, 5.2, 2.3]

let logged: LoggedApp
let app: FastifyInstance
t.before(async () => {
  logged = await buildLoggedApp(t, {}, fastify => {
    fastify.get('/test/throw', async () => { throw new Error('internal failure') })
    fastify.get('/test/unavailable', async () => { throw new UnavailableError('model \'x\' is loading') })
    fastify.get('/test/timeout', async () => { throw new InferenceTimeoutError('inference did not finish within 30000 ms') })
  })
  app = logged.app
})

t.test('a sane x-request-id is echoed and used as the log reqId', async t => {
  for (const id of ['abc-123', 'trace.span:1@svc/a+b=c_d', 'a'.repeat(128), '0']) {
    const res = await app.inject({ method: 'GET', url: '/', headers: { 'x-request-id': id } })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['x-request-id'], id, `echoed: ${id.slice(0, 20)}`)
    t.equal(logged.linesOf(id).length, 1, 'the log line carries it')
  }
})

t.test('a hostile x-request-id is replaced by a generated id', async t => {
  const hostile = ['a'.repeat(129), 'a b', 'a\tb', 'a\u0001b', 'a\u001b[31mred', 'id"}{"level":60', '<script>', 'é', '']
  const seen = new Set<string>()
  for (const id of hostile) {
    const res = await app.inject({ method: 'GET', url: '/', headers: { 'x-request-id': id } })
    t.equal(res.statusCode, 200)
    const echoed = res.headers['x-request-id']
    t.match(echoed, UUID, `replaced: ${JSON.stringify(id.slice(0, 20))}`)
    seen.add(String(echoed))
    t.notOk(logged.raw.some(line => line.includes(`"reqId":${JSON.stringify(id)}`)), 'the hostile id is not logged as reqId')
  }
  t.equal(seen.size, hostile.length, 'each generated id is new')
})

t.test('without x-request-id every response gets a fresh generated id', async t => {
  const first = await app.inject({ method: 'GET', url: '/health/live' })
  const second = await app.inject({ method: 'GET', url: '/nope' })
  t.match(first.headers['x-request-id'], UUID)
  t.match(second.headers['x-request-id'], UUID, 'also on an error')
  t.not(first.headers['x-request-id'], second.headers['x-request-id'])
})

t.test('exactly one log line per request, with method, url, status and duration', async t => {
  const requests: Array<[string, InjectOptions, number]> = [
    ['log-root', { method: 'GET', url: '/' }, 200],
    ['log-models', { method: 'GET', url: '/v1/models' }, 200],
    ['log-404', { method: 'GET', url: '/nope' }, 404],
    ['log-400', { method: 'POST', url: '/predict', payload: { input_data: [1, 2] } }, 400],
    ['log-415', { method: 'POST', url: '/predict', headers: { 'content-type': 'application/xml' }, payload: '<x/>' }, 415],
    ['log-500', { method: 'GET', url: '/test/throw' }, 500],
    ['log-503', { method: 'GET', url: '/test/unavailable' }, 503],
    ['log-504', { method: 'GET', url: '/test/timeout' }, 504]
  ]
  for (const [id, request, status] of requests) {
    const res = await app.inject({ ...request, headers: { ...request.headers, 'x-request-id': id } })
    t.equal(res.statusCode, status)
    const lines = logged.linesOf(id)
    t.equal(lines.length, 1, `${id}: one line`)
    t.match(lines[0], {
      msg: 'request completed',
      reqId: id,
      req: { method: request.method, url: request.url },
      res: { statusCode: status },
      responseTime: Number
    }, `${id}: the line`)
    // 503 at warn (the server says "not now" on purpose), other 5xx at error, the rest at info
    t.equal(lines[0].level, status === 503 ? 40 : status >= 500 ? 50 : 30, `${id}: level`)
    if (status >= 500) t.match(lines[0].err, { message: String }, `${id}: the error is on the line`)
    t.notOk('model' in lines[0], `${id}: no model on a request that did not predict`)
  }
})

t.test('health probes are not logged, one by one: their changes are', async t => {
  const probeLines = (): LogLine[] => logged.raw.map(line => JSON.parse(line) as LogLine).filter(line => line.probe !== undefined)
  await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'probe-live' } })
  await app.inject({ method: 'GET', url: '/health/ready', headers: { 'x-request-id': 'probe-ready' } })
  t.equal(logged.linesOf('probe-live').length, 0)
  t.equal(logged.linesOf('probe-ready').length, 0)
  const before = probeLines().length
  app.lifecycle.draining = true
  t.teardown(() => { app.lifecycle.draining = false })
  for (const url of ['/health/ready', '/v2/health/ready', '/health/ready']) {
    const res = await app.inject({ method: 'GET', url, headers: { 'x-request-id': 'probe-draining' } })
    t.equal(res.statusCode, 503)
    t.equal(res.headers['x-request-id'], 'probe-draining', 'the id is echoed on probes too')
  }
  t.equal(logged.linesOf('probe-draining').length, 0, 'no line per failed probe')
  app.lifecycle.draining = false
  t.equal((await app.inject({ method: 'GET', url: '/v2/health/ready' })).statusCode, 200)
  // 503 is "not now" on purpose (loading, draining): a warning, not an error; and one line when it passes.
  t.match(probeLines().slice(before), [
    { level: 40, probe: 'ready', reason: 'shutting down', msg: 'not ready: shutting down' },
    { level: 30, probe: 'ready', msg: 'ready' }
  ])
  t.equal(probeLines().length - before, 2, 'three failed probes and one that passed: two lines')
})

t.test('a prediction\'s line has the model, version, rows and inference time', async t => {
  await app.inject({ method: 'POST', url: '/predict', headers: { 'x-request-id': 'pred-1' }, payload: { input_data: [setosa, virginica] } })
  await app.inject({ method: 'POST', url: '/v1/models/iris-petal-width/versions/1/predict', headers: { 'x-request-id': 'pred-2' }, payload: { instances: [[5.1, 3.5, 1.4], [6.7, 3.0, 5.2], [5.9, 3.0, 4.2]] } })
  const [first] = logged.linesOf('pred-1')
  t.match(first, { reqId: 'pred-1', res: { statusCode: 200 }, model: 'iris', version: 1, rows: 2, inferenceMs: Number, level: 30 })
  t.ok((first.inferenceMs as number) >= 0, 'inferenceMs is not negative')
  const [second] = logged.linesOf('pred-2')
  t.match(second, { reqId: 'pred-2', model: 'iris-petal-width', version: 1, rows: 3, inferenceMs: Number })
  t.equal(logged.linesOf('pred-1').length, 1)
  t.equal(logged.linesOf('pred-2').length, 1)
})

t.test('the authorization header and cookies never reach the logs', async t => {
  const headers = { authorization: `Bearer ${TOKEN}`, cookie: COOKIE }
  const requests: InjectOptions[] = [
    { method: 'POST', url: '/predict', payload: { input_data: setosa } },
    { method: 'POST', url: '/predict', payload: { input_data: 'bad' } },
    { method: 'GET', url: '/v1/models/iris' },
    { method: 'GET', url: '/nope' },
    { method: 'GET', url: '/test/throw' }
  ]
  const before = logged.raw.length
  for (const request of requests) {
    await app.inject({ ...request, headers: { ...headers, 'x-request-id': 'auth-check' } })
  }
  t.equal(logged.linesOf('auth-check').length, requests.length, 'every request was logged')
  // Headers logged by any code (here the app's own logger) lose their credentials.
  app.log.info({ reqId: 'headers-check', headers: { ...headers, Cookie: COOKIE, 'proxy-authorization': `Basic ${TOKEN}`, accept: 'application/json' } }, 'headers')
  t.match(logged.linesOf('headers-check')[0], { headers: { authorization: '[redacted]', cookie: '[redacted]', Cookie: '[redacted]', 'proxy-authorization': '[redacted]', accept: 'application/json' } })
  t.ok(logged.raw.length > before)
  const text = logged.raw.join('')
  t.notOk(text.includes('SECRET-SIGNATURE'), 'no token')
  t.notOk(text.includes('COOKIE-SECRET'), 'no cookie')
  t.notOk(text.toLowerCase().includes('bearer'), 'no bearer scheme either')
})
