// The request pipeline that app.ts writes in order: request id, security
// headers, load shedding, auth, the quota, the cache. Each test fails if
// auth ever runs after the quota or the cache, or the quota after the cache.

import t, { type Test } from 'tap'
import { buildApp, devToken } from './helpers/build-app'
import { cachedIrisRepository, freshRow, predictRow } from './helpers/cached-repository'

const QUOTA = 3
const bearer = (sub: string): string => `Bearer ${devToken({ sub, scope: 'predict' })}`

async function pipelineApp (t: Test): ReturnType<typeof buildApp> {
  return await buildApp(t, { MODEL_REPOSITORY: cachedIrisRepository(t), DEFAULT_MODEL: 'iris', RATE_LIMIT_MAX: String(QUOTA) }, { token: false })
}

t.test('auth runs before the quota: anonymous requests are refused as such, never charged', async t => {
  const app = await pipelineApp(t)
  for (let i = 0; i < QUOTA + 2; i++) {
    const res = await predictRow(app, freshRow())
    t.equal(res.statusCode, 401, `anonymous request ${i + 1}: 401, not 429`)
    t.ok(res.headers['x-request-id'], 'the request id comes first, on every answer')
    t.ok(res.headers['x-content-type-options'], 'and the security headers')
  }
  t.equal((await predictRow(app, freshRow(), { authorization: bearer('after-anonymous') })).statusCode, 200,
    'the address\'s anonymous attempts cost no identity its quota')
})

t.test('the quota counts the verified subject, each on its own', async t => {
  const app = await pipelineApp(t)
  for (let i = 0; i < QUOTA; i++) t.equal((await predictRow(app, freshRow(), { authorization: bearer('a') })).statusCode, 200)
  const over = await predictRow(app, freshRow(), { authorization: bearer('a') })
  t.equal(over.statusCode, 429, 'a past its quota')
  t.equal((await predictRow(app, freshRow(), { authorization: bearer('b') })).statusCode, 200, 'b, from the same address, has its own')
})

t.test('the cache comes after auth and the quota: no answer from it is anonymous or free', async t => {
  const app = await pipelineApp(t)
  const row = freshRow()
  const token = { authorization: bearer('cached') }
  t.equal((await predictRow(app, row, token)).headers['x-cache'], 'MISS')
  t.equal((await predictRow(app, row, token)).headers['x-cache'], 'HIT', 'the prediction is cached now')
  t.equal((await predictRow(app, row, token)).headers['x-cache'], 'HIT', 'the third request of the quota')
  t.equal((await predictRow(app, row)).statusCode, 401, 'anonymous: 401 for a cached prediction')

  const metadata = await app.inject({ url: '/v1/models/iris', headers: { authorization: bearer('etag') } })
  const etag = metadata.headers.etag as string
  t.ok(etag, 'metadata carries an ETag')
  t.equal((await app.inject({ url: '/v1/models/iris', headers: { 'if-none-match': etag } })).statusCode, 401, 'anonymous with the current ETag: 401, not 304')

  t.equal((await predictRow(app, row, token)).statusCode, 429, 'past its quota, a cached prediction is 429')
  const conditional = { authorization: bearer('etag'), 'if-none-match': etag }
  t.equal((await app.inject({ url: '/v1/models/iris', headers: conditional })).statusCode, 304)
  t.equal((await app.inject({ url: '/v1/models/iris', headers: conditional })).statusCode, 304)
  t.equal((await app.inject({ url: '/v1/models/iris', headers: conditional })).statusCode, 429, 'a 304 is charged like any answer')
})
