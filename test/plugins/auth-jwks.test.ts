// JWKS_URL: keys from a key server, and what that key server (or a token
// naming keys) may cost: a deadline per fetch, stale keys through an
// outage, 503 when no key can be had, refetches bounded by a cooldown.

import t, { type Test } from 'tap'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { buildApp } from '../helpers/build-app'
import { assertError } from '../helpers/responses'
import { ALGORITHM, assertInvalidToken, assertPredicted, base64url, handMadeHs256, nowSeconds, pem, predict, sign } from '../helpers/tokens'

const NO_KEY = 'the key set has no key for this token\'s kid and alg'
const NO_KEY_NO_KID = 'the key set has no key for this token\'s alg (and it names no kid)'

interface JwksServer {
  url: string
  requests: string[]
  serve: (keys: object[]) => void
  /** From now on, accept connections and never answer. */
  hang: () => void
}

/** A JWKS endpoint on 127.0.0.1 that records every request it gets. */
async function jwksServer (t: Test): Promise<JwksServer> {
  let body = JSON.stringify({ keys: [] })
  let hanging = false
  const requests: string[] = []
  const held: ServerResponse[] = []
  const server = createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`)
    if (hanging) held.push(response)
    else response.writeHead(200, { 'content-type': 'application/json' }).end(body)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const response of held) response.destroy()
    return new Promise(resolve => server.close(resolve))
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/tenant/jwks.json`,
    requests,
    serve: keys => { body = JSON.stringify({ keys }); hanging = false },
    hang: () => { hanging = true }
  }
}

const jwk = (key: KeyObject, kid: string, alg: string): object => ({ ...key.export({ format: 'jwk' }), kid, alg, use: 'sig' })

t.test('JWKS_URL: keys by kid from the configured URL only, refetched on rotation', async t => {
  const jwks = await jwksServer(t)
  // Every outgoing fetch of the process (the key set uses the global fetch).
  const fetched: string[] = []
  const realFetch = globalThis.fetch
  globalThis.fetch = async (input, init) => {
    fetched.push(input instanceof Request ? input.url : String(input))
    return realFetch(input, init)
  }
  t.teardown(() => { globalThis.fetch = realFetch })

  const first = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const second = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  jwks.serve([jwk(first.publicKey, 'key-1', 'RS256')])
  // No cooldown: each unknown kid may fetch (the cooldown has its own test).
  const app = await buildApp(t, { JWKS_URL: jwks.url, JWKS_COOLDOWN_MS: '0' }, { token: false })
  const claims = { sub: 'carol', scope: 'predict' }
  const path = 'GET /tenant/jwks.json'

  assertPredicted(t, await predict(app, `Bearer ${sign(first.privateKey, 'RS256', claims, { kid: 'key-1' })}`), 'kid key-1')
  t.strictSame(jwks.requests, [path], 'the key set was fetched once')
  assertPredicted(t, await predict(app, `Bearer ${sign(first.privateKey, 'RS256', claims, { kid: 'key-1' })}`), 'kid key-1 again')
  t.strictSame(jwks.requests, [path], 'then taken from the cache')

  // Rotation: the identity provider now publishes a new key under a new kid.
  jwks.serve([jwk(second.publicKey, 'key-2', 'ES256')])
  assertPredicted(t, await predict(app, `Bearer ${sign(second.privateKey, 'ES256', claims, { kid: 'key-2' })}`), 'kid key-2 after rotation')
  t.strictSame(jwks.requests, [path, path], 'an unknown kid refetched the key set')

  assertInvalidToken(t, await predict(app, `Bearer ${sign(first.privateKey, 'RS256', claims, { kid: 'key-9' })}`), NO_KEY, 'a kid in no set')
  assertInvalidToken(t, await predict(app, `Bearer ${sign(second.privateKey, 'ES256', claims)}`), NO_KEY_NO_KID, 'no kid')
  assertInvalidToken(t, await predict(app, `Bearer ${handMadeHs256({ ...claims, exp: nowSeconds() + 60 }, pem(second.publicKey), { alg: 'HS256', kid: 'key-2' })}`),
    NO_KEY, 'HS256 naming a published kid')
  t.equal(jwks.requests.length, 5, 'with no cooldown, one fetch per miss')

  // A published key without `alg` serves any algorithm, so
  // the pinned list is what refuses HS256 keyed with its PEM.
  const third = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const { alg: _unused, ...noAlg } = jwk(third.publicKey, 'key-4', 'RS256') as { alg: string }
  jwks.serve([jwk(second.publicKey, 'key-2', 'ES256'), noAlg])
  assertPredicted(t, await predict(app, `Bearer ${sign(third.privateKey, 'RS256', claims, { kid: 'key-4' })}`), 'kid key-4 (no alg in the set)')
  assertInvalidToken(t, await predict(app, `Bearer ${handMadeHs256({ ...claims, exp: nowSeconds() + 60 }, pem(third.publicKey), { alg: 'HS256', kid: 'key-4' })}`),
    ALGORITHM, 'HS256 keyed with the PEM of a published key without alg')
  assertInvalidToken(t, await predict(app, `Bearer ${base64url({ alg: 'none', kid: 'key-4' })}.${base64url({ ...claims, exp: nowSeconds() + 60 })}.`),
    'Unsigned authorization token', 'alg none naming a published kid')

  // A token that names another issuer and key URL is still checked against the configured set only.
  const elsewhere = 'http://169.254.169.254'
  const before = jwks.requests.length
  const pointing = sign(second.privateKey, 'ES256', { ...claims, iss: elsewhere }, { kid: 'key-3', header: { jku: `${elsewhere}/jwks.json`, x5u: `${elsewhere}/cert.pem` } })
  t.strictSame(JSON.parse(Buffer.from(pointing.split('.')[0], 'base64url').toString()),
    { alg: 'ES256', typ: 'JWT', kid: 'key-3', jku: `${elsewhere}/jwks.json`, x5u: `${elsewhere}/cert.pem` }, 'the token points elsewhere')
  const res = await predict(app, `Bearer ${pointing}`)
  assertInvalidToken(t, res, NO_KEY, 'kid key-3 with iss and jku elsewhere')
  t.strictSame(jwks.requests.slice(before), [path], 'the configured URL was asked for key-3')
  assertPredicted(t, await predict(app, `Bearer ${sign(second.privateKey, 'ES256', { ...claims, iss: elsewhere }, { kid: 'key-2' })}`), 'iss elsewhere, published kid')
  t.ok(fetched.length > 0)
  t.strictSame([...new Set(fetched)], [jwks.url], 'nothing but the configured URL was ever fetched')
  t.equal(fetched.length, jwks.requests.length, 'every fetch reached the local server')
})

const claims = { sub: 'carol', scope: 'predict' }

t.test('tokens naming unknown kids cost one fetch per cooldown, not one each', async t => {
  const jwks = await jwksServer(t)
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  jwks.serve([jwk(publicKey, 'key-1', 'ES256')])
  const app = await buildApp(t, { JWKS_URL: jwks.url }, { token: false })
  assertPredicted(t, await predict(app, `Bearer ${sign(privateKey, 'ES256', claims, { kid: 'key-1' })}`), 'a published kid')
  const forged = await Promise.all(Array.from({ length: 200 }, (_, i) =>
    predict(app, `Bearer ${sign(privateKey, 'ES256', claims, { kid: `forged-${i}` })}`, `198.51.100.${i % 250}`)))
  t.ok(forged.every(res => res.statusCode === 401), '200 unknown kids: 401')
  t.equal(jwks.requests.length, 1, 'and not one more fetch within JWKS_COOLDOWN_MS')
})

t.test('a key server that hangs: stale keys serve, then 503 within JWKS_TIMEOUT_MS, never a hang', async t => {
  const jwks = await jwksServer(t)
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  jwks.serve([jwk(publicKey, 'key-1', 'ES256')])
  const app = await buildApp(t, { JWKS_URL: jwks.url, JWKS_TIMEOUT_MS: '300', JWKS_CACHE_TTL_MS: '1000', JWKS_MAX_STALE_MS: '1500', JWKS_COOLDOWN_MS: '0' }, { token: false })
  // A fresh token each time: a verified token is remembered and would not need the key.
  const fresh = (n: number): string => `Bearer ${sign(privateKey, 'ES256', { ...claims, n }, { kid: 'key-1' })}`
  assertPredicted(t, await predict(app, fresh(1)), 'keys fetched')

  jwks.hang()
  await sleep(1100)
  let started = Date.now()
  assertPredicted(t, await predict(app, fresh(2)), 'past the TTL, the known key still serves')
  t.ok(Date.now() - started < 250, `at once (${Date.now() - started} ms), the refresh runs in the background`)

  await sleep(1500)
  started = Date.now()
  const res = await predict(app, fresh(3))
  const took = Date.now() - started
  assertError(t, res, { statusCode: 503, code: 'ONNX_SERVE_KEY_SERVER_UNAVAILABLE', message: /^the token key server cannot be reached \(no answer within 300 ms \(JWKS_TIMEOUT_MS\)\); retry in \d+ s$/ }, 'past TTL + JWKS_MAX_STALE_MS')
  t.ok(Number(res.headers['retry-after']) >= 1, 'with Retry-After')
  t.ok(took >= 250 && took < 1500, `answered within the deadline (${took} ms)`)
  t.equal(res.headers['www-authenticate'], undefined, 'not the token\'s fault: no challenge')

  jwks.serve([jwk(publicKey, 'key-1', 'ES256')])
  assertPredicted(t, await predict(app, fresh(4)), 'the key server is back')
})

t.test('an address over AUTH_FAILURE_LIMIT gets no verification work: no key fetch', async t => {
  const jwks = await jwksServer(t)
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  jwks.serve([jwk(publicKey, 'key-1', 'ES256')])
  const app = await buildApp(t, { JWKS_URL: jwks.url, JWKS_COOLDOWN_MS: '0', AUTH_FAILURE_LIMIT: '2' }, { token: false })
  const attacker = '203.0.113.9'
  const statuses: number[] = []
  for (let i = 0; i < 20; i++) {
    statuses.push((await predict(app, `Bearer ${sign(privateKey, 'ES256', claims, { kid: `forged-${i}` })}`, attacker)).statusCode)
  }
  t.strictSame(statuses, [401, 401, ...new Array<number>(18).fill(429)])
  t.equal(jwks.requests.length, 3, 'fetches for the two counted failures and the one that crossed the limit, none after')
})
