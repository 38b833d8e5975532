// The in-memory quota counters are sized for the clients a pod sees
// (RATE_LIMIT_KEYS per table) and kept apart: addresses (anonymous requests,
// failed authentications) cannot push a verified identity's count out.

import { createSigner } from 'fast-jwt'
import t from 'tap'
import { DEVELOPMENT_SECRET } from '../../lib/auth/auth-key'
import { buildApp, devToken } from '../helpers/build-app'
import { buildLoggedApp } from '../helpers/logged-app'
import { predict } from '../helpers/tokens'

t.test('thousands of other clients do not reset an identity past its quota', async t => {
  const app = await buildApp(t, { RATE_LIMIT_MAX: '5' }, { token: false })
  const alice = `Bearer ${devToken({ sub: 'alice', scope: 'predict' })}`
  for (let i = 0; i < 5; i++) t.equal((await predict(app, alice)).statusCode, 200)
  t.equal((await predict(app, alice)).statusCode, 429, 'alice is past her quota')

  // @fastify/rate-limit's own store kept 5,000 keys for everyone together.
  const anonymous = new Map<number, number>()
  for (let i = 0; i < 5100; i++) {
    const { statusCode } = await predict(app, undefined, `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`)
    anonymous.set(statusCode, (anonymous.get(statusCode) ?? 0) + 1)
  }
  t.strictSame([...anonymous], [[401, 5100]], '5,100 anonymous requests from as many addresses')
  const signer = createSigner({ key: DEVELOPMENT_SECRET, algorithm: 'HS256', expiresIn: 3_600_000 })
  const others = new Map<number, number>()
  for (let i = 0; i < 5100; i++) {
    const { statusCode } = await predict(app, `Bearer ${signer({ sub: `user-${i}`, scope: 'predict' })}`)
    others.set(statusCode, (others.get(statusCode) ?? 0) + 1)
  }
  t.strictSame([...others], [[200, 5100]], 'the first requests of 5,100 other identities')
  t.equal((await predict(app, alice)).statusCode, 429, 'after 5,100 addresses and 5,100 identities, alice is still refused')
})

t.test('past RATE_LIMIT_KEYS the least recently seen identity is forgotten, and the log says so', async t => {
  const { app, raw } = await buildLoggedApp(t, { RATE_LIMIT_MAX: '2', RATE_LIMIT_KEYS: '100', LOG_LEVEL: 'warn' })
  const alice = `Bearer ${devToken({ sub: 'alice', scope: 'predict' })}`
  for (let i = 0; i < 2; i++) t.equal((await predict(app, alice)).statusCode, 200)
  t.equal((await predict(app, alice)).statusCode, 429)
  for (let i = 0; i < 100; i++) await predict(app, `Bearer ${devToken({ sub: `user-${i}`, scope: 'predict' })}`)
  t.equal((await predict(app, alice)).statusCode, 200, 'forgotten, alice starts a new window (the documented eviction)')
  const warning = raw.map(line => JSON.parse(line) as Record<string, unknown>).find(line => line.table === 'subjects')
  t.match(warning, { level: 40, evicted: 1, rateLimitKeys: 100, msg: /raise RATE_LIMIT_KEYS/ })
})
