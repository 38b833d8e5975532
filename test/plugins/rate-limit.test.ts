// Per-identity quotas (plugins/rate-limit.ts) with the in-memory store, and
// the per-IP limit on failed authentication (plugins/auth.ts).

import { randomUUID } from 'node:crypto'
import t from 'tap'
import { createSigner } from 'fast-jwt'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { buildApp, devToken } from '../helpers/build-app'
import { assertError } from '../helpers/responses'

// Subjects unique to this run, so no counter of another run can matter.
const run = randomUUID().slice(0, 8)
const subject = (name: string): string => `${name}-${run}`
const bearer = (sub: string): string => `Bearer ${devToken({ sub, scope: 'predict admin' })}`

const IRIS_ROW = { input_data: [5.1, 3.5, 1.4, 0.2] }

function predict (app: FastifyInstance, authorization: string, remoteAddress = '127.0.0.1'): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url: '/predict', headers: { authorization }, payload: IRIS_ROW, remoteAddress })
}

function get (app: FastifyInstance, url: string, extra: Partial<InjectOptions> = {}): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'GET', url, ...extra })
}

function assertRateLimited (t: tap.Test, res: LightMyRequestResponse, max: number, what: string): void {
  assertError(t, res, { statusCode: 429, code: 'ONNX_SERVE_RATE_LIMITED', message: new RegExp(`^rate limit of ${max} requests per 60 s exceeded; retry in `) }, what)
  t.match(res.headers['retry-after'], /^[1-9]\d*$/, `${what}: retry-after is a positive number of seconds`)
  t.ok(Number(res.headers['retry-after']) <= 60, `${what}: retry-after is within the window`)
  t.equal(res.headers['x-ratelimit-remaining'], '0', `${what}: nothing remains`)
}

t.test('each token subject has its own quota of RATE_LIMIT_MAX requests per window', async t => {
  const app = await buildApp(t, { RATE_LIMIT_MAX: '3' }, { token: false })
  const alice = bearer(subject('alice'))
  for (let i = 1; i <= 3; i++) {
    const res = await predict(app, alice)
    t.equal(res.statusCode, 200, `request ${i} is served`)
    t.strictSame(res.json(), { prediction: ['setosa'] }, `request ${i} is a real prediction`)
    t.equal(res.headers['x-ratelimit-limit'], '3', `request ${i}: x-ratelimit-limit`)
    t.equal(res.headers['x-ratelimit-remaining'], String(3 - i), `request ${i}: x-ratelimit-remaining counts down`)
    t.match(res.headers['x-ratelimit-reset'], /^\d+$/, `request ${i}: x-ratelimit-reset is seconds`)
    t.ok(Number(res.headers['x-ratelimit-reset']) > 0 && Number(res.headers['x-ratelimit-reset']) <= 60, `request ${i}: reset within the window`)
    t.equal(res.headers['retry-after'], undefined, `request ${i}: no retry-after while under the quota`)
  }
  const fourth = await predict(app, alice)
  assertRateLimited(t, fourth, 3, 'the 4th request')
  t.equal(fourth.headers['x-ratelimit-limit'], '3')

  // The quota is per identity, on every route: alice is limited elsewhere too ...
  const elsewhere = await get(app, '/v1/models', { headers: { authorization: alice } })
  assertRateLimited(t, elsewhere, 3, 'alice on another route')

  // ... while bob, from the same address, still has all of his.
  const bob = bearer(subject('bob'))
  for (let i = 1; i <= 3; i++) {
    const res = await predict(app, bob)
    t.equal(res.statusCode, 200, `bob's request ${i} is served`)
    t.equal(res.headers['x-ratelimit-remaining'], String(3 - i), `bob's request ${i}: his own count`)
  }
  assertRateLimited(t, await predict(app, bob), 3, 'bob\'s 4th request')
})

t.test('two subjects from one IP are counted apart; one subject from two IPs is counted together', async t => {
  const app = await buildApp(t, { RATE_LIMIT_MAX: '2' }, { token: false })
  const carol = bearer(subject('carol'))
  const dave = bearer(subject('dave'))
  t.equal((await predict(app, carol, '10.0.0.1')).statusCode, 200)
  t.equal((await predict(app, dave, '10.0.0.1')).statusCode, 200)
  t.equal((await predict(app, carol, '10.0.0.1')).statusCode, 200)
  t.equal((await predict(app, dave, '10.0.0.1')).statusCode, 200, 'dave is not charged for carol')
  assertRateLimited(t, await predict(app, carol, '10.0.0.1'), 2, 'carol\'s 3rd')
  assertRateLimited(t, await predict(app, dave, '10.0.0.1'), 2, 'dave\'s 3rd')
  // Moving to another address does not give a subject a fresh quota.
  assertRateLimited(t, await predict(app, carol, '10.0.0.2'), 2, 'carol from another address')
})

t.test('unauthenticated requests to public routes are counted per IP', async t => {
  const app = await buildApp(t, { RATE_LIMIT_MAX: '2' }, { token: false })
  for (let i = 1; i <= 2; i++) {
    const res = await get(app, '/', { remoteAddress: '192.0.2.1' })
    t.equal(res.statusCode, 200, `request ${i} from 192.0.2.1`)
    t.equal(res.headers['x-ratelimit-remaining'], String(2 - i))
  }
  assertRateLimited(t, await get(app, '/', { remoteAddress: '192.0.2.1' }), 2, '3rd from 192.0.2.1')
  const other = await get(app, '/', { remoteAddress: '192.0.2.2' })
  t.equal(other.statusCode, 200, 'another address has its own quota')
  t.equal(other.headers['x-ratelimit-remaining'], '1')
  // An authenticated client behind the exhausted address is counted by its subject.
  const erin = await predict(app, bearer(subject('erin')), '192.0.2.1')
  t.equal(erin.statusCode, 200, 'a token subject is not charged for its IP\'s anonymous traffic')
  t.equal(erin.headers['x-ratelimit-remaining'], '1')
})

t.test('the not-found handler is rate limited, so nobody scans for URLs cheaply', async t => {
  const app = await buildApp(t, { RATE_LIMIT_MAX: '3' }, { token: false })
  for (let i = 1; i <= 3; i++) {
    const res = await get(app, `/scan/${i}`, { remoteAddress: '198.51.100.7' })
    assertError(t, res, { statusCode: 404, code: 'NOT_FOUND', message: `Route GET:/scan/${i} not found` }, `probe ${i}`)
    t.equal(res.headers['x-ratelimit-remaining'], String(3 - i), `probe ${i} is counted`)
  }
  assertRateLimited(t, await get(app, '/scan/4', { remoteAddress: '198.51.100.7' }), 3, 'the 4th probe')
  // The same per-IP counter covers public routes: a scanner cannot switch to them.
  assertRateLimited(t, await get(app, '/', { remoteAddress: '198.51.100.7' }), 3, 'a public route after the probes')
})

t.test('health probes are never rate limited; /metrics has a quota of its own', async t => {
  const app = await buildApp(t, { RATE_LIMIT_MAX: '1' }, { token: false })
  // Exhaust the address's quota first.
  t.equal((await get(app, '/')).statusCode, 200)
  assertRateLimited(t, await get(app, '/'), 1, 'the address is over its quota')
  for (let i = 1; i <= 5; i++) {
    for (const url of ['/health/live', '/health/ready']) {
      const res = await get(app, url)
      t.equal(res.statusCode, 200, `${url} #${i} answers`)
      t.equal(res.headers['x-ratelimit-limit'], undefined, `${url} #${i}: not counted`)
    }
    const scrape = await get(app, '/metrics')
    t.equal(scrape.statusCode, 200, `/metrics #${i} answers though the address is over its quota`)
    t.equal(scrape.headers['x-ratelimit-limit'], undefined, `/metrics #${i}: not counted against it (scrapes have their own)`)
  }
})

t.test('the quota comes back after the window', async t => {
  const app = await buildApp(t, { RATE_LIMIT_MAX: '1', RATE_LIMIT_WINDOW: '1000' }, { token: false })
  const frank = bearer(subject('frank'))
  t.equal((await predict(app, frank)).statusCode, 200)
  const limited = await predict(app, frank)
  t.equal(limited.statusCode, 429)
  t.equal(limited.headers['retry-after'], '1')
  t.match(limited.json<{ message: string }>().message, /^rate limit of 1 requests per 1 s exceeded/)
  await new Promise(resolve => setTimeout(resolve, 1100))
  const again = await predict(app, frank)
  t.equal(again.statusCode, 200, 'served again in the next window')
  t.equal(again.headers['x-ratelimit-remaining'], '0')
})

t.test('failed authentication is limited per IP: AUTH_FAILURE_LIMIT=2, the 3rd bad token is 429', async t => {
  const app = await buildApp(t, { AUTH_FAILURE_LIMIT: '2' }, { token: false })
  const bad = (token: string, remoteAddress = '203.0.113.9') => predict(app, `Bearer ${token}`, remoteAddress)
  // Well formed, but signed with a key the server does not hold.
  const forged = createSigner({ key: 'not-the-server-secret-0123456789abcdef', algorithm: 'HS256', expiresIn: 60_000 })({ sub: subject('mallory'), scope: 'predict' })
  for (let i = 1; i <= 2; i++) {
    const res = await bad(forged)
    assertError(t, res, { statusCode: 401, code: 'ONNX_SERVE_UNAUTHORIZED', message: /^invalid token: .*signature/i }, `bad token ${i}`)
    t.match(res.headers['www-authenticate'], /^Bearer realm="onnx-serve", error="invalid_token"/)
  }
  const third = await bad(forged)
  assertError(t, third, { statusCode: 429, code: 'ONNX_SERVE_RATE_LIMITED', message: /^too many failed authentications from this address; retry in \d+ s$/ }, 'bad token 3')
  t.match(third.headers['retry-after'], /^[1-9]\d*$/, 'with retry-after')
  // A missing token counts as a failure too, and stays refused from that address.
  const missing = await app.inject({ method: 'POST', url: '/predict', payload: IRIS_ROW, remoteAddress: '203.0.113.9' })
  t.equal(missing.statusCode, 429, 'a request without a token from the same address')
  // Another address is not affected.
  const elsewhere = await bad(forged, '203.0.113.10')
  t.equal(elsewhere.statusCode, 401, 'another address still gets its 401')
  // The blocked address gets no verification work: a valid token it has not
  // had verified is refused unread; one already verified elsewhere is served.
  const grace = bearer(subject('grace'))
  t.equal((await predict(app, grace, '203.0.113.10')).statusCode, 200, 'a valid token, verified from another address')
  t.equal((await predict(app, grace, '203.0.113.9')).statusCode, 200, 'is served from the blocked address too')
  t.equal((await predict(app, bearer(subject('heidi')), '203.0.113.9')).statusCode, 429, 'a valid token never verified is not looked at')
})
