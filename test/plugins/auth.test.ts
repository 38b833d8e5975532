import t, { type Test } from 'tap'
import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { createSigner } from 'fast-jwt'
import { ConfigError, loadConfig } from '../../lib/config'
import { buildApp, devToken, testEnv } from '../helpers/build-app'
import { buildLoggedApp } from '../helpers/logged-app'
import { assertError } from '../helpers/responses'

const REALM = 'Bearer realm="onnx-serve"'
const SECRET = 'the-32-character-test-secret-is-this-one'
const ISSUER = 'https://idp.example.com/'
const AUDIENCE = 'onnx-serve'
const setosa = [5.1, 3.5, 1.4, 0.2]

const nowSeconds = (): number => Math.floor(Date.now() / 1000)
const base64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A token built by hand: any header, any claims, HMAC-SHA256 over them with `key`. */
function handMadeHs256 (claims: Record<string, unknown>, key: string, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }): string {
  const signingInput = `${base64url(header)}.${base64url(claims)}`
  return `${signingInput}.${createHmac('sha256', key).update(signingInput).digest('base64url')}`
}

const pem = (key: KeyObject): string => key.export({ type: key.type === 'public' ? 'spki' : 'pkcs8', format: 'pem' }) as string

function sign (key: KeyObject | string, algorithm: 'HS256' | 'HS512' | 'RS256' | 'RS384' | 'ES256' | 'EdDSA', claims: Record<string, unknown>, extra: { kid?: string, header?: { jku?: string, x5u?: string } } = {}): string {
  const header = extra.header === undefined ? undefined : { alg: algorithm, ...extra.header }
  return createSigner({ key: typeof key === 'string' ? key : pem(key), algorithm, expiresIn: 60_000, kid: extra.kid, header })(claims)
}

function predict (app: FastifyInstance, authorization?: string, remoteAddress?: string): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: '/predict',
    payload: { input_data: setosa },
    headers: authorization === undefined ? {} : { authorization },
    remoteAddress
  })
}

function assertPredicted (t: Test, res: LightMyRequestResponse, what: string): void {
  t.equal(res.statusCode, 200, `${what}: 200`)
  t.strictSame(res.json(), { prediction: ['setosa'] }, `${what}: the prediction`)
}

const unauthorized = (message: string) => ({ statusCode: 401, code: 'ONNX_SERVE_UNAUTHORIZED', message })
const invalidToken = (reason: string) => ({
  error: unauthorized(`invalid token: ${reason}`),
  challenge: `${REALM}, error="invalid_token", error_description="${reason}"`
})

/** A 401 for a token that did not verify, with the reason in the body and in WWW-Authenticate. */
function assertInvalidToken (t: Test, res: LightMyRequestResponse, reason: string, what: string): void {
  const expected = invalidToken(reason)
  assertError(t, res, expected.error, what)
  t.equal(res.headers['www-authenticate'], expected.challenge, `${what}: WWW-Authenticate`)
}

const MISSING = 'missing bearer token: send Authorization: Bearer <token>'
const MALFORMED = 'malformed Authorization header: expected Bearer <token>'
const MALFORMED_CHALLENGE = `${REALM}, error="invalid_request", error_description="expected Bearer <token>"`
const SIGNATURE = 'Authorization token is invalid: The token signature is invalid.'
const ALGORITHM = 'The token algorithm is invalid.'

t.test('the development secret (no key configured)', async t => {
  const app = await buildApp(t, {}, { token: false, setup: fastify => { fastify.get('/test/admin', { config: { scope: 'admin' } }, async () => ({ admin: true })) } })

  t.test('no token: 401 with WWW-Authenticate and the JSON error shape, on every predict route', async t => {
    const requests: Array<{ method: 'GET' | 'POST', url: string, payload?: Record<string, unknown> }> = [
      { method: 'POST', url: '/predict', payload: { input_data: setosa } },
      { method: 'GET', url: '/v1/models' },
      { method: 'GET', url: '/v1/models/iris' },
      { method: 'POST', url: '/v1/models/iris/predict', payload: { instances: [setosa] } },
      { method: 'POST', url: '/v1/models/iris/versions/1/predict', payload: { instances: [setosa] } },
      { method: 'GET', url: '/v1/models/no-such-model' }
    ]
    for (const request of requests) {
      const what = `${request.method} ${request.url}`
      const res = await app.inject(request)
      assertError(t, res, unauthorized(MISSING), what)
      t.equal(res.headers['www-authenticate'], REALM, `${what}: WWW-Authenticate`)
    }
    const empty = await predict(app, '')
    assertError(t, empty, unauthorized(MISSING), 'an empty Authorization header')
    t.equal(empty.headers['www-authenticate'], REALM)
  })

  t.test('a malformed Authorization header: 401 invalid_request', async t => {
    const good = devToken()
    for (const header of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer ', `Bearer ${good} ${good}`, `Bearer  ${good}`, `Token ${good}`, good, `Bearer ${good},`]) {
      const res = await predict(app, header)
      assertError(t, res, unauthorized(MALFORMED), JSON.stringify(header.slice(0, 12)))
      t.equal(res.headers['www-authenticate'], MALFORMED_CHALLENGE)
    }
  })

  t.test('a good development token: 200; the scheme is case-insensitive', async t => {
    assertPredicted(t, await predict(app, `Bearer ${devToken()}`), 'Bearer')
    assertPredicted(t, await predict(app, `bearer ${devToken()}`), 'bearer')
    const res = await app.inject({ method: 'GET', url: '/v1/models/iris', headers: { authorization: `Bearer ${devToken({ sub: 'a', scope: 'predict' })}` } })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['www-authenticate'], undefined)
  })

  t.test('an unknown model is 404 only for a caller with a token', async t => {
    const res = await app.inject({ method: 'GET', url: '/v1/models/no-such-model', headers: { authorization: `Bearer ${devToken()}` } })
    t.equal(res.statusCode, 404)
  })

  t.test('scopes: from `scope`, from a `scopes` array; a missing one is 403 insufficient_scope', async t => {
    assertPredicted(t, await predict(app, `Bearer ${devToken({ sub: 'a', scopes: ['predict'] })}`), 'scopes array')
    assertPredicted(t, await predict(app, `Bearer ${devToken({ sub: 'a', scope: 'admin', scopes: ['predict'] })}`), 'scope and scopes together')
    assertPredicted(t, await predict(app, `Bearer ${devToken({ sub: 'a', scope: '  admin   predict ' })}`), 'extra spaces')
    const forbidden = (message: string) => ({ statusCode: 403, code: 'ONNX_SERVE_FORBIDDEN', message })
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ sub: 'a', scope: 'admin' }, "this route needs the 'predict' scope; the token has admin"],
      [{ sub: 'a' }, "this route needs the 'predict' scope; the token has none"],
      [{ sub: 'a', scope: 'predictions admin other' }, "this route needs the 'predict' scope; the token has predictions, admin, other"],
      [{ sub: 'a', scope: ['predict'] }, "this route needs the 'predict' scope; the token has none"],
      [{ sub: 'a', scopes: 'predict' }, "this route needs the 'predict' scope; the token has none"],
      [{ sub: 'a', scope: 'PREDICT' }, "this route needs the 'predict' scope; the token has PREDICT"]
    ]
    for (const [claims, message] of cases) {
      const res = await predict(app, `Bearer ${devToken(claims)}`)
      assertError(t, res, forbidden(message), JSON.stringify(claims))
      t.equal(res.headers['www-authenticate'], `${REALM}, error="insufficient_scope", scope="predict"`)
    }
  })

  t.test('a route that needs admin', async t => {
    const get = (authorization?: string) => app.inject({ method: 'GET', url: '/test/admin', headers: authorization === undefined ? {} : { authorization } })
    const predictOnly = await get(`Bearer ${devToken({ sub: 'a', scope: 'predict' })}`)
    assertError(t, predictOnly, { statusCode: 403, code: 'ONNX_SERVE_FORBIDDEN', message: "this route needs the 'admin' scope; the token has predict" })
    t.equal(predictOnly.headers['www-authenticate'], `${REALM}, error="insufficient_scope", scope="admin"`)
    const admin = await get(`Bearer ${devToken({ sub: 'a', scopes: ['admin'] })}`)
    t.equal(admin.statusCode, 200)
    t.strictSame(admin.json(), { admin: true })
    const anonymous = await get()
    assertError(t, anonymous, unauthorized(MISSING))
    t.equal(anonymous.headers['www-authenticate'], REALM)
  })

  t.test('public routes stay public', async t => {
    for (const url of ['/', '/health/live', '/health/ready', '/docs', '/docs/json', '/metrics']) {
      const res = await app.inject({ method: 'GET', url })
      t.equal(res.statusCode, 200, url)
      t.equal(res.headers['www-authenticate'], undefined, `${url}: no challenge`)
    }
    // A bad token on a public route is not even looked at.
    const res = await app.inject({ method: 'GET', url: '/health/live', headers: { authorization: 'Basic junk' } })
    t.equal(res.statusCode, 200)
  })

  t.test('an unknown route is 404 without a token, not 401', async t => {
    const res = await app.inject({ method: 'GET', url: '/no/such/route' })
    assertError(t, res, { statusCode: 404, code: 'NOT_FOUND', message: 'Route GET:/no/such/route not found' })
  })
})

t.test('HS256 with JWT_SECRET', async t => {
  const app = await buildApp(t, { JWT_SECRET: SECRET }, { token: false })
  const claims = { sub: 'alice', scope: 'predict' }

  t.test('a good token verifies: signed by fast-jwt or by hand', async t => {
    assertPredicted(t, await predict(app, `Bearer ${sign(SECRET, 'HS256', claims)}`), 'fast-jwt')
    assertPredicted(t, await predict(app, `Bearer ${handMadeHs256({ ...claims, exp: nowSeconds() + 60 }, SECRET)}`), 'by hand')
  })

  t.test('bad tokens: 401 invalid_token with the reason', async t => {
    const exp = nowSeconds() + 60
    const nbf = nowSeconds() + 600
    const cases: Array<[string, string, string]> = [
      ['expired', handMadeHs256({ ...claims, exp: nowSeconds() - 60 }, SECRET), 'Authorization token expired'],
      ['nbf in the future', handMadeHs256({ ...claims, exp: nbf + 60, nbf }, SECRET), `The token will be active at ${new Date(nbf * 1000).toISOString()}.`],
      ['no exp', handMadeHs256(claims, SECRET), 'Authorization token is invalid: The exp claim is required.'],
      ['wrong secret', handMadeHs256({ ...claims, exp }, `${SECRET}-not`), SIGNATURE],
      ['the development secret once a key is set', devToken(), SIGNATURE],
      ['tampered claims', (() => {
        const [header, , signature] = handMadeHs256({ ...claims, exp }, SECRET).split('.')
        return `${header}.${base64url({ sub: 'alice', scope: 'predict admin', exp })}.${signature}`
      })(), SIGNATURE],
      ['alg none', `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ ...claims, exp })}.`, 'Unsigned authorization token'],
      ['alg none with a signature', `${base64url({ alg: 'none' })}.${base64url({ ...claims, exp })}.c2ln`, ALGORITHM],
      ['HS512 with the right secret (algorithm pinned to HS256)', sign(SECRET, 'HS512', claims), ALGORITHM],
      ['not a JWT', 'abc.def.ghi', 'Authorization token is invalid: The token header is not a valid base64url serialized JSON.']
    ]
    for (const [what, token, reason] of cases) assertInvalidToken(t, await predict(app, `Bearer ${token}`), reason, what)
  })
})

t.test('JWT_ISSUER and JWT_AUDIENCE are enforced, and required', async t => {
  const app = await buildApp(t, { JWT_SECRET: SECRET, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE }, { token: false })
  const exp = nowSeconds() + 60
  const token = (claims: Record<string, unknown>) => `Bearer ${handMadeHs256({ sub: 'alice', scope: 'predict', exp, ...claims }, SECRET)}`
  assertPredicted(t, await predict(app, token({ iss: ISSUER, aud: AUDIENCE })), 'right iss and aud')
  assertPredicted(t, await predict(app, token({ iss: ISSUER, aud: ['other', AUDIENCE] })), 'aud as an array naming us')
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['wrong issuer', { iss: 'https://evil.example.com/', aud: AUDIENCE }, 'Authorization token is invalid: The iss claim value is not allowed.'],
    ['no issuer', { aud: AUDIENCE }, 'Authorization token is invalid: The iss claim is required.'],
    ['wrong audience', { iss: ISSUER, aud: 'someone-else' }, 'Authorization token is invalid: The aud claim value is not allowed.'],
    ['no audience', { iss: ISSUER }, 'Authorization token is invalid: The aud claim is required.']
  ]
  for (const [what, claims, reason] of cases) assertInvalidToken(t, await predict(app, token(claims)), reason, what)
})

t.test('JWT_PUBLIC_KEY: the algorithms follow the key', async t => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const ed = generateKeyPairSync('ed25519')
  const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const claims = { sub: 'bob', scope: 'predict' }

  t.test('RS256, the PEM given on one line with \\n escapes', async t => {
    const publicPem = pem(rsa.publicKey)
    const app = await buildApp(t, { JWT_PUBLIC_KEY: publicPem.trim().replace(/\n/g, '\\n') }, { token: false })
    assertPredicted(t, await predict(app, `Bearer ${sign(rsa.privateKey, 'RS256', claims)}`), 'RS256')
    assertPredicted(t, await predict(app, `Bearer ${sign(rsa.privateKey, 'RS384', claims)}`), 'RS384')
    const exp = nowSeconds() + 60
    const cases: Array<[string, string, string]> = [
      // The classic confusion: HS256 keyed with the (public) PEM text
      ['HS256 signed with the public key PEM as secret', handMadeHs256({ ...claims, exp }, publicPem), ALGORITHM],
      ['HS256 signed with the one-line PEM as secret', handMadeHs256({ ...claims, exp }, publicPem.replace(/\n/g, '\\n')), ALGORITHM],
      ['HS256 with the development secret', devToken(), ALGORITHM],
      ['RS256 from another key', sign(otherRsa.privateKey, 'RS256', claims), SIGNATURE],
      ['ES256', sign(ec.privateKey, 'ES256', claims), ALGORITHM],
      ['alg none', `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ ...claims, exp })}.`, 'Unsigned authorization token']
    ]
    for (const [what, token, reason] of cases) assertInvalidToken(t, await predict(app, `Bearer ${token}`), reason, what)
  })

  t.test('ES256 (P-256)', async t => {
    const publicPem = pem(ec.publicKey)
    const app = await buildApp(t, { JWT_PUBLIC_KEY: publicPem }, { token: false })
    assertPredicted(t, await predict(app, `Bearer ${sign(ec.privateKey, 'ES256', claims)}`), 'ES256')
    const cases: Array<[string, string, string]> = [
      ['HS256 signed with the public key PEM as secret', handMadeHs256({ ...claims, exp: nowSeconds() + 60 }, publicPem), ALGORITHM],
      ['RS256', sign(rsa.privateKey, 'RS256', claims), ALGORITHM],
      ['ES256 from another key', sign(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'ES256', claims), SIGNATURE]
    ]
    for (const [what, token, reason] of cases) assertInvalidToken(t, await predict(app, `Bearer ${token}`), reason, what)
  })

  t.test('EdDSA (Ed25519)', async t => {
    const app = await buildApp(t, { JWT_PUBLIC_KEY: pem(ed.publicKey) }, { token: false })
    assertPredicted(t, await predict(app, `Bearer ${sign(ed.privateKey, 'EdDSA', claims)}`), 'EdDSA')
    assertInvalidToken(t, await predict(app, `Bearer ${sign(ec.privateKey, 'ES256', claims)}`), ALGORITHM, 'ES256')
  })

  t.test('a private key in JWT_PUBLIC_KEY is refused at start, naming the variable', async t => {
    t.throws(() => loadConfig({ ...testEnv, JWT_PUBLIC_KEY: pem(rsa.privateKey) }), new ConfigError(
      'JWT_PUBLIC_KEY is not a usable PEM public key: this is a private key; give its public key (openssl pkey -pubout), the server only verifies tokens'))
  })
})

/** A JWKS endpoint on 127.0.0.1 that records every request it gets. */
async function jwksServer (t: Test): Promise<{ url: string, requests: string[], serve: (keys: object[]) => void }> {
  let body = JSON.stringify({ keys: [] })
  const requests: string[] = []
  const server = createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`)
    response.writeHead(200, { 'content-type': 'application/json' }).end(body)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise(resolve => server.close(resolve)))
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}/tenant/jwks.json`, requests, serve: keys => { body = JSON.stringify({ keys }) } }
}

const jwk = (key: KeyObject, kid: string, alg: string): object => ({ ...key.export({ format: 'jwk' }), kid, alg, use: 'sig' })

t.test('JWKS_URL: keys by kid from the configured URL only, refetched on rotation', async t => {
  const jwks = await jwksServer(t)
  // Every outgoing fetch of the process (get-jwks uses the global fetch).
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
  const app = await buildApp(t, { JWKS_URL: jwks.url }, { token: false })
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

  assertInvalidToken(t, await predict(app, `Bearer ${sign(first.privateKey, 'RS256', claims, { kid: 'key-9' })}`), 'No matching JWK found in the set.', 'a kid in no set')
  assertInvalidToken(t, await predict(app, `Bearer ${sign(second.privateKey, 'ES256', claims)}`), 'No matching JWK found in the set.', 'no kid')
  assertInvalidToken(t, await predict(app, `Bearer ${handMadeHs256({ ...claims, exp: nowSeconds() + 60 }, pem(second.publicKey), { alg: 'HS256', kid: 'key-2' })}`),
    'No matching JWK found in the set.', 'HS256 naming a published kid')
  // get-jwks caches keys by alg and kid, and never a miss: each unknown pair costs one fetch.
  t.equal(jwks.requests.length, 5, 'one fetch per unknown (alg, kid)')

  // A published key without `alg`: get-jwks hands it over for any algorithm, so
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
  assertInvalidToken(t, res, 'No matching JWK found in the set.', 'kid key-3 with iss and jku elsewhere')
  t.strictSame(jwks.requests.slice(before), [path], 'the configured URL was asked for key-3')
  assertPredicted(t, await predict(app, `Bearer ${sign(second.privateKey, 'ES256', { ...claims, iss: elsewhere }, { kid: 'key-2' })}`), 'iss elsewhere, published kid')
  t.ok(fetched.length > 0)
  t.strictSame([...new Set(fetched)], [jwks.url], 'nothing but the configured URL was ever fetched')
  t.equal(fetched.length, jwks.requests.length, 'every fetch reached the local server')
})

t.test('failed authentications are limited per IP address (AUTH_FAILURE_LIMIT)', async t => {
  const app = await buildApp(t, { AUTH_FAILURE_LIMIT: '3' }, { token: false })
  const attacker = '203.0.113.7'
  const bad = `Bearer ${handMadeHs256({ sub: 'x', scope: 'predict', exp: nowSeconds() + 60 }, 'a-guess-at-the-secret')}`
  for (let attempt = 1; attempt <= 3; attempt++) {
    assertInvalidToken(t, await predict(app, bad, attacker), SIGNATURE, `attempt ${attempt}`)
  }
  const limited = await predict(app, bad, attacker)
  assertError(t, limited, { statusCode: 429, code: 'ONNX_SERVE_RATE_LIMITED', message: 'too many failed authentications from this address; retry in 60 s' }, 'attempt 4')
  t.equal(limited.headers['retry-after'], '60')
  t.equal(limited.headers['www-authenticate'], undefined, 'a 429 carries no challenge')
  const missing = await predict(app, undefined, attacker)
  t.equal(missing.statusCode, 429, 'a missing token counts as a failure too')
  const malformed = await predict(app, 'Basic abc', attacker)
  t.equal(malformed.statusCode, 429, 'so does a malformed header')

  // The limit is per address: another client is not affected.
  assertInvalidToken(t, await predict(app, bad, '198.51.100.1'), SIGNATURE, 'another address')

  // What the code does: the limiter is consulted only after a token fails,
  // so a valid token from a limited address is still served.
  assertPredicted(t, await predict(app, `Bearer ${devToken()}`, attacker), 'a good token from the limited address')
  // Public routes are not guarded at all.
  t.equal((await app.inject({ method: 'GET', url: '/health/live', remoteAddress: attacker })).statusCode, 200)

  // A valid token without the scope is a 403, not a failed authentication.
  const client = '198.51.100.2'
  for (let attempt = 1; attempt <= 5; attempt++) {
    t.equal((await predict(app, `Bearer ${devToken({ sub: 'y', scope: 'admin' })}`, client)).statusCode, 403, `403 number ${attempt} is not counted`)
  }
})

t.test('with no key: a loud warning at start, once; production refuses to start', async t => {
  const warning = 'NO JWT KEY CONFIGURED: tokens are signed with the fixed development secret, which anyone can read. Set JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL before exposing this server.'
  const lines = (raw: string[]) => raw.map(line => JSON.parse(line) as { level: number, msg: string })
  const development = await buildLoggedApp(t, {})
  const warnings = lines(development.raw).filter(line => line.msg === warning)
  t.equal(warnings.length, 1, 'logged once')
  t.equal(warnings[0]?.level, 40, 'at warn level')

  const configured = await buildLoggedApp(t, { JWT_SECRET: SECRET })
  t.equal(lines(configured.raw).filter(line => /JWT KEY/.test(line.msg)).length, 0, 'no warning with a key')

  t.throws(() => loadConfig({ ...testEnv, NODE_ENV: 'production' }), new ConfigError(
    'NODE_ENV=production needs a token key: set JWT_SECRET (HS256), JWT_PUBLIC_KEY (PEM) or JWKS_URL'))
  t.equal(loadConfig({ ...testEnv, NODE_ENV: 'production', JWT_SECRET: SECRET }).auth.kind, 'secret', 'production with a key starts')
})
