import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { ConfigError, loadConfig } from '../../lib/config/config'
import { buildApp, devToken, testEnv } from '../helpers/build-app'
import { buildLoggedApp } from '../helpers/logged-app'
import { assertError } from '../helpers/responses'
import { ALGORITHM, REALM, assertInvalidToken, assertPredicted, base64url, handMadeHs256, nowSeconds, pem, predict, setosa, sign, unauthorized } from '../helpers/tokens'

const SECRET = 'the-32-character-test-secret-is-this-one'
const ISSUER = 'https://idp.example.com/'
const AUDIENCE = 'onnx-serve'

const MISSING = 'missing bearer token: send Authorization: Bearer <token>'
const MALFORMED = 'malformed Authorization header: expected Bearer <token>'
const MALFORMED_CHALLENGE = `${REALM}, error="invalid_request", error_description="expected Bearer <token>"`
const SIGNATURE = 'Authorization token is invalid: The token signature is invalid.'

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

  // Past the limit an address gets no verification work at all: a token it
  // has not had verified is refused unread, even a good one; a token already
  // verified (say, another user behind the same NAT) is still served.
  const seen = `Bearer ${devToken({ sub: 'neighbour', scope: 'predict' })}`
  assertPredicted(t, await predict(app, seen, '198.51.100.3'), 'a good token, first seen from another address')
  assertPredicted(t, await predict(app, seen, attacker), 'the same token from the limited address')
  const unseen = await predict(app, `Bearer ${devToken({ sub: 'new', scope: 'predict' })}`, attacker)
  t.equal(unseen.statusCode, 429, 'a good token never verified before is not even looked at')
  // Public routes are not guarded at all.
  t.equal((await app.inject({ method: 'GET', url: '/health/live', remoteAddress: attacker })).statusCode, 200)

  // A valid token without the scope is a 403, not a failed authentication.
  const client = '198.51.100.2'
  for (let attempt = 1; attempt <= 5; attempt++) {
    t.equal((await predict(app, `Bearer ${devToken({ sub: 'y', scope: 'admin' })}`, client)).statusCode, 403, `403 number ${attempt} is not counted`)
  }
})

t.test('IPv6 clients are counted by /64: a host cannot pick a fresh address per guess', async t => {
  const app = await buildApp(t, { AUTH_FAILURE_LIMIT: '2' }, { token: false })
  const bad = `Bearer ${handMadeHs256({ sub: 'x', scope: 'predict', exp: nowSeconds() + 60 }, 'a-guess-at-the-secret')}`
  t.equal((await predict(app, bad, '2001:db8:1:2::1')).statusCode, 401)
  t.equal((await predict(app, bad, '2001:db8:1:2:aaaa::7')).statusCode, 401)
  t.equal((await predict(app, bad, '2001:db8:1:2:ffff:ffff:ffff:ffff')).statusCode, 429, 'the third address of the /64 is over the limit')
  t.equal((await predict(app, bad, '2001:db8:1:3::1')).statusCode, 401, 'the next /64 is another client')
})

t.test('a reason quoting the token\'s own text cannot break the WWW-Authenticate header', async t => {
  const app = await buildApp(t, { JWT_SECRET: SECRET }, { token: false })
  for (const name of ['x\u2028y', 'x\r\nSet-Cookie: a=b', 'é', 'x"y\\z']) {
    const token = handMadeHs256({ sub: 'a', scope: 'predict', exp: nowSeconds() + 60 }, SECRET, { alg: 'HS256', typ: 'JWT', crit: [name] })
    const res = await predict(app, `Bearer ${token}`)
    t.equal(res.statusCode, 401, `crit ${JSON.stringify(name)}: 401`)
    t.equal(res.json().code, 'ONNX_SERVE_UNAUTHORIZED')
    t.match(res.headers['www-authenticate'], /^Bearer realm="onnx-serve", error="invalid_token", error_description="[\x20-\x7e]*"$/, 'a header of printable ASCII')
    t.equal(res.headers['set-cookie'], undefined)
  }
})

t.test('token times: iat sane, JWT_MAX_AGE bounds age and lifetime', async t => {
  const now = nowSeconds()
  const token = (claims: Record<string, unknown>): string => `Bearer ${handMadeHs256({ sub: 'a', scope: 'predict', ...claims }, SECRET)}`
  const unlimited = await buildApp(t, { JWT_SECRET: SECRET }, { token: false })
  assertPredicted(t, await predict(unlimited, token({ iat: now, exp: now + 100 * 365 * 86400 })), 'no JWT_MAX_AGE: a long lifetime is the issuer\'s choice')
  assertPredicted(t, await predict(unlimited, token({ iat: now + 30, exp: now + 60 })), 'iat 30 s ahead (clock skew)')
  assertPredicted(t, await predict(unlimited, token({ exp: now + 60 })), 'no iat')
  assertInvalidToken(t, await predict(unlimited, token({ iat: 4102444800, exp: 4102444900 })), 'The token is issued in the future (iat).', 'iat in 2100')
  assertInvalidToken(t, await predict(unlimited, token({ iat: 'yesterday', exp: now + 60 })), 'The iat claim must be a number of seconds.', 'iat a string')

  const limited = await buildApp(t, { JWT_SECRET: SECRET, JWT_MAX_AGE: '3600' }, { token: false })
  assertPredicted(t, await predict(limited, token({ iat: now - 60, exp: now + 3000 })), 'within an hour')
  assertInvalidToken(t, await predict(limited, token({ iat: now, exp: now + 100 * 365 * 86400 })), 'The token lives longer than 3600 s (JWT_MAX_AGE).', 'exp a century ahead')
  assertInvalidToken(t, await predict(limited, token({ iat: now, exp: 1e20 })), 'The token lives longer than 3600 s (JWT_MAX_AGE).', 'exp=1e20')
  assertInvalidToken(t, await predict(limited, token({ iat: now - 7200, exp: now + 60 })), 'The token is older than 3600 s (JWT_MAX_AGE).', 'issued two hours ago')
  assertInvalidToken(t, await predict(limited, token({ exp: now + 60 })), 'The token has no iat claim; this server limits token age (JWT_MAX_AGE).', 'no iat')
  t.throws(() => loadConfig({ ...testEnv, JWT_MAX_AGE: '1h' }), new ConfigError('JWT_MAX_AGE="1h" is invalid; expected the longest token lifetime in seconds, from iat (0: no limit): an integer from 0 to 31536000'))
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
