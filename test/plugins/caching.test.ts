// The prediction cache and metadata ETags (plugins/caching.ts) with the
// in-memory store; the Redis store is in caching-redis.test.ts.

import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { buildApp, devToken } from '../helpers/build-app'
import { cachedIrisRepository, countRuns, freshRow, predictRow } from '../helpers/cached-repository'
import { assertError } from '../helpers/responses'
import type { InferCodec, RequestFacts } from '../../lib/data-plane/infer-codec'
import type { TensorMap } from '../../lib/tensors/tensor'

const v2Body = (row: number[], id?: string): object => ({
  ...(id === undefined ? {} : { id }),
  inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: row }]
})

t.test('a repeated prediction is a HIT on every API and runs the model once', async t => {
  const app = await buildApp(t, { MODEL_REPOSITORY: cachedIrisRepository(t), DEFAULT_MODEL: 'iris' })
  const runs = countRuns(app)
  const row = freshRow()

  const first = await predictRow(app, row)
  t.equal(first.statusCode, 200)
  t.equal(first.headers['x-cache'], 'MISS')
  const second = await predictRow(app, row)
  t.equal(second.headers['x-cache'], 'HIT')
  t.strictSame(second.json(), first.json(), 'the same prediction')

  const v1 = await app.inject({ method: 'POST', url: '/v1/models/iris:predict', payload: { instances: [row] } })
  t.equal(v1.statusCode, 200)
  t.equal(v1.headers['x-cache'], 'HIT', '/v1 shares the entry /predict made')
  const a = await app.inject({ method: 'POST', url: '/v2/models/iris/infer', payload: v2Body(row, 'a') })
  const b = await app.inject({ method: 'POST', url: '/v2/models/iris/infer', payload: v2Body(row, 'b') })
  t.equal(a.headers['x-cache'], 'HIT', '/v2 shares it too')
  t.equal(b.headers['x-cache'], 'HIT', 'the v2 id is not part of the key')
  t.equal(a.json<{ id: string }>().id, 'a', 'each answer carries its own id')
  t.equal(b.json<{ id: string }>().id, 'b')
  t.equal(runs(), 1, 'four APIs, five requests, one run')

  const other = await predictRow(app, freshRow())
  t.equal(other.headers['x-cache'], 'MISS', 'another row is another entry')
  t.equal(runs(), 2)

  const uncached = await app.inject({ method: 'POST', url: '/v1/models/iris-petal-width:predict', payload: { instances: [[5.1, 3.5, 1.4]] } })
  t.equal(uncached.statusCode, 200)
  t.equal(uncached.headers['x-cache'], undefined, 'no x-cache on a model without "cache": true')

  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /^onnx_serve_cache_lookups_total\{model="iris",result="hit"\} 4$/m)
  t.match(metrics, /^onnx_serve_cache_lookups_total\{model="iris",result="miss"\} 2$/m)
})

t.test('20 concurrent identical requests wait for one run', async t => {
  const app = await buildApp(t, { MODEL_REPOSITORY: cachedIrisRepository(t), DEFAULT_MODEL: 'iris' })
  const runs = countRuns(app)
  const row = freshRow()
  const answers = await Promise.all(Array.from({ length: 20 }, () => predictRow(app, row)))
  t.strictSame(answers.map(res => res.statusCode), Array(20).fill(200))
  t.equal(runs(), 1, 'one inference for all twenty')
  t.equal(answers.filter(res => res.headers['x-cache'] === 'MISS').length, 1, 'the first is the miss')
  t.equal(answers.filter(res => res.headers['x-cache'] === 'HIT').length, 19, 'the others waited for it')
  t.equal(new Set(answers.map(res => res.body)).size, 1, 'one prediction')
})

t.test('a hit never skips auth, scopes or the rate limit', async t => {
  const app = await buildApp(t, { MODEL_REPOSITORY: cachedIrisRepository(t), DEFAULT_MODEL: 'iris', RATE_LIMIT_MAX: '3' }, { token: false })
  const row = freshRow()
  const bearer = { authorization: `Bearer ${devToken({ sub: 'cached', scope: 'predict' })}` }
  t.equal((await predictRow(app, row, bearer)).headers['x-cache'], 'MISS')
  t.equal((await predictRow(app, row, bearer)).headers['x-cache'], 'HIT')

  assertError(t, await predictRow(app, row), { statusCode: 401, code: 'ONNX_SERVE_UNAUTHORIZED', message: /^missing bearer token/ }, 'no token')
  const admin = await predictRow(app, row, { authorization: `Bearer ${devToken({ sub: 'cached', scope: 'admin' })}` })
  assertError(t, admin, { statusCode: 403, code: 'ONNX_SERVE_FORBIDDEN', message: /needs the 'predict' scope/ }, 'no predict scope')
  t.equal((await predictRow(app, row, bearer)).headers['x-cache'], 'HIT', 'the third request of the quota')
  assertError(t, await predictRow(app, row, bearer), { statusCode: 429, code: 'ONNX_SERVE_RATE_LIMITED', message: /^rate limit of 3 requests/ }, 'past the quota, cached or not')
})

t.test('unloading or reloading a version makes its entries unreachable', async t => {
  const repository = cachedIrisRepository(t)
  const app = await buildApp(t, { MODEL_REPOSITORY: repository, DEFAULT_MODEL: 'iris' })
  const runs = countRuns(app)
  const row = freshRow()
  await predictRow(app, row)
  t.equal((await predictRow(app, row)).headers['x-cache'], 'HIT')

  t.equal((await app.inject({ method: 'POST', url: '/v2/repository/models/iris/load' })).statusCode, 200, 'reloaded')
  t.equal((await predictRow(app, row)).headers['x-cache'], 'MISS', 'after a reload')
  t.equal((await predictRow(app, row)).headers['x-cache'], 'HIT')

  t.equal((await app.inject({ method: 'POST', url: '/v2/repository/models/iris/unload' })).statusCode, 200, 'unloaded')
  t.equal((await predictRow(app, row)).statusCode, 503, 'an unloaded model is not answered from its entries')
  t.equal((await app.inject({ method: 'POST', url: '/v2/repository/models/iris/load' })).statusCode, 200, 'loaded again')
  t.equal((await predictRow(app, row)).headers['x-cache'], 'MISS', 'after an unload and a load')
  t.equal(runs(), 3)
})

t.test('model metadata carries an ETag, and a matching If-None-Match gets 304 only behind auth', async t => {
  const app = await buildApp(t, { MODEL_REPOSITORY: cachedIrisRepository(t) }, { token: false })
  const bearer = `Bearer ${devToken({ sub: 'etag', scope: 'predict admin' })}`
  const get = async (url: string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> =>
    await app.inject({ method: 'GET', url, headers: { authorization: bearer, ...headers } })

  for (const url of ['/v2/models/iris', '/v2/models/iris/versions/1', '/v2/models/iris/config', '/v1/models/iris', '/v1/models/iris/versions/1']) {
    const first = await get(url)
    t.equal(first.statusCode, 200, url)
    const etag = first.headers.etag as string
    t.match(etag, /^"[\w-]+\.\d+\.[\w-]+"$/, `${url}: an ETag`)
    t.equal(first.headers['cache-control'], 'no-cache', `${url}: kept by the client, asked again each time`)
    const again = await get(url, { 'if-none-match': etag })
    t.equal(again.statusCode, 304, `${url}: 304 for the current ETag`)
    t.equal(again.body, '', `${url}: no body`)
    const anonymous = await app.inject({ method: 'GET', url, headers: { 'if-none-match': etag } })
    t.equal(anonymous.statusCode, 401, `${url}: anonymous with a valid ETag gets 401, never 304`)
    const other = await get(url, { 'if-none-match': '"other"' })
    t.equal(other.statusCode, 200, `${url}: another ETag gets the body`)
  }

  const metadata = await get('/v2/models/iris')
  const etag = metadata.headers.etag as string
  t.equal((await get('/v2/models/iris/config', { 'if-none-match': etag })).statusCode, 200, 'an ETag of one URL is not valid for another')
  const predict = await app.inject({ method: 'POST', url: '/predict', headers: { authorization: bearer, 'if-none-match': etag }, payload: { input_data: freshRow() } })
  t.equal(predict.statusCode, 200, 'a prediction is never a 304')

  t.equal((await app.inject({ method: 'POST', url: '/v2/repository/models/iris/load', headers: { authorization: bearer } })).statusCode, 200)
  const reloaded = await get('/v2/models/iris', { 'if-none-match': etag })
  t.equal(reloaded.statusCode, 200, 'after a reload the old ETag gets the body')
  t.not(reloaded.headers.etag, etag, 'with a new ETag')
})

t.test('metadata ETags neither evict predictions nor multiply with query strings', async t => {
  const app = await buildApp(t, { MODEL_REPOSITORY: cachedIrisRepository(t), DEFAULT_MODEL: 'iris', CACHE_MAX_ENTRIES: '20' })
  const row = freshRow()
  t.equal((await predictRow(app, row)).headers['x-cache'], 'MISS')
  const etags = new Set<string>()
  for (let i = 0; i < 150; i++) {
    const res = await app.inject({ method: 'GET', url: `/v1/models/iris?n=${i}` })
    t.equal(res.statusCode, 200)
    etags.add(res.headers.etag as string)
  }
  t.equal(etags.size, 1, '150 query strings, one ETag')
  const [etag] = etags
  t.equal((await app.inject({ method: 'GET', url: '/v1/models/iris?other', headers: { 'if-none-match': etag } })).statusCode, 304, 'and it is valid with any query string')
  t.equal((await predictRow(app, row)).headers['x-cache'], 'HIT', 'the prediction is still cached')
})

t.test('a hit for a version let go after the request got it is refused with 503', async t => {
  const app = await buildApp(t, { MODEL_REPOSITORY: cachedIrisRepository(t), DEFAULT_MODEL: 'iris' })
  const row = freshRow()
  t.equal((await predictRow(app, row)).headers['x-cache'], 'MISS')
  const model = app.dataPlane.model({ name: 'iris' }, served => served.model)
  const feeds = { features: { type: 'float32' as const, dims: [1, 4], data: Float32Array.from(row) } }
  // A codec that passes the tensors through, as a transport's would after decoding.
  const tensors: InferCodec<TensorMap, TensorMap> = feeds => ({ feeds, field: 'inputs', rows: false, reply: outputs => outputs })
  const facts: RequestFacts = {}
  await app.dataPlane.infer(tensors, { name: 'iris' }, feeds, facts)
  t.equal(facts.inference?.cache, 'HIT', 'the entry is there')
  // As if an unload had flagged the version between the request's get() and its lookup.
  model.released = true
  t.teardown(() => { model.released = false })
  await t.rejects(app.dataPlane.infer(tensors, { name: 'iris' }, feeds, {}), { statusCode: 503, message: /no longer loaded/ })
})
