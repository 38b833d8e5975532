import t from 'tap'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { CLOCK_SKEW_SECONDS, DEVELOPMENT_SECRET, algorithmsForPublicKey, resolveAuthKey, scopesOf, tokenTimeProblem } from '../../../lib/auth/auth-key'

const spki = (key: KeyObject): string => key.export({ type: 'spki', format: 'pem' }) as string
const SECRET = 'x'.repeat(32)

t.test('algorithmsForPublicKey pins the algorithms to the key type', async t => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  t.strictSame(algorithmsForPublicKey(spki(rsa.publicKey)), ['RS256', 'RS384', 'RS512'], 'RSA (SPKI)')
  t.strictSame(algorithmsForPublicKey(rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }) as string), ['RS256', 'RS384', 'RS512'], 'RSA (PKCS#1)')
  t.strictSame(algorithmsForPublicKey(spki(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey)), ['ES256'], 'EC P-256')
  t.strictSame(algorithmsForPublicKey(spki(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey)), ['ES384'], 'EC P-384')
  t.strictSame(algorithmsForPublicKey(spki(generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey)), ['ES512'], 'EC P-521')
  t.strictSame(algorithmsForPublicKey(spki(generateKeyPairSync('ed25519').publicKey)), ['EdDSA'], 'Ed25519')
})

t.test('algorithmsForPublicKey refuses what cannot verify, with the reason', async t => {
  t.throws(() => algorithmsForPublicKey(spki(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey)),
    new Error('EC curve secp256k1 is not one of P-256, P-384, P-521'))
  // fast-jwt cannot read id-RSASSA-PSS keys: refused here rather than on the first request
  t.throws(() => algorithmsForPublicKey(spki(generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey)),
    new Error('rsa-pss keys are not supported; use RSA, EC or Ed25519'))
  t.throws(() => algorithmsForPublicKey(spki(generateKeyPairSync('ed448').publicKey)),
    new Error('ed448 keys are not supported; use RSA, EC or Ed25519'))
  t.throws(() => algorithmsForPublicKey(spki(generateKeyPairSync('x25519').publicKey)),
    new Error('x25519 keys are not supported; use RSA, EC or Ed25519'))
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  t.throws(() => algorithmsForPublicKey(rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string),
    new Error('this is a private key; give its public key (openssl pkey -pubout), the server only verifies tokens'))
  t.throws(() => algorithmsForPublicKey(rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string),
    new Error('this is a private key; give its public key (openssl pkey -pubout), the server only verifies tokens'), 'a PKCS#1 private key')
  t.throws(() => algorithmsForPublicKey('not a key'), { message: /DECODER routines::unsupported/ })
  t.throws(() => algorithmsForPublicKey('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----'), { message: /asn1 encoding routines/ })
})

t.test('resolveAuthKey', async t => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const publicPem = spki(ec.publicKey)

  t.strictSame(resolveAuthKey({ secret: SECRET, production: true }), { kind: 'secret', secret: SECRET, algorithms: ['HS256'], development: false }, 'a secret')
  t.strictSame(resolveAuthKey({ publicKey: publicPem, production: true }), { kind: 'public-key', publicKey: publicPem, algorithms: ['ES256'] }, 'a PEM')
  t.strictSame(resolveAuthKey({ publicKey: publicPem.replace(/\n/g, '\\n'), production: true }),
    { kind: 'public-key', publicKey: publicPem, algorithms: ['ES256'] }, 'a one-line PEM with \\n escapes becomes the PEM')
  t.strictSame(resolveAuthKey({ jwksUrl: 'https://idp.example.com/.well-known/jwks.json', production: true }), {
    kind: 'jwks',
    url: 'https://idp.example.com/.well-known/jwks.json',
    algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']
  }, 'a JWKS URL: asymmetric algorithms only')

  t.strictSame(resolveAuthKey({ production: false }), { kind: 'secret', secret: DEVELOPMENT_SECRET, algorithms: ['HS256'], development: true }, 'outside production, the development secret')
  t.ok(DEVELOPMENT_SECRET.length >= 32)
  t.throws(() => resolveAuthKey({ production: true }),
    new Error('NODE_ENV=production needs a token key: set JWT_SECRET (HS256), JWT_PUBLIC_KEY (PEM) or JWKS_URL'))

  t.throws(() => resolveAuthKey({ secret: SECRET, publicKey: publicPem, production: false }),
    new Error('set only one of JWT_SECRET, JWT_PUBLIC_KEY, JWKS_URL (got JWT_SECRET and JWT_PUBLIC_KEY)'))
  t.throws(() => resolveAuthKey({ publicKey: publicPem, jwksUrl: 'https://idp.example.com/jwks', production: false }),
    new Error('set only one of JWT_SECRET, JWT_PUBLIC_KEY, JWKS_URL (got JWT_PUBLIC_KEY and JWKS_URL)'))
  t.throws(() => resolveAuthKey({ secret: SECRET, publicKey: publicPem, jwksUrl: 'https://idp.example.com/jwks', production: true }),
    new Error('set only one of JWT_SECRET, JWT_PUBLIC_KEY, JWKS_URL (got JWT_SECRET and JWT_PUBLIC_KEY and JWKS_URL)'))

  t.throws(() => resolveAuthKey({ publicKey: 'not a key', production: false }),
    new Error('JWT_PUBLIC_KEY is not a usable PEM public key: error:1E08010C:DECODER routines::unsupported'))
  t.throws(() => resolveAuthKey({ publicKey: spki(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey), production: false }),
    new Error('JWT_PUBLIC_KEY is not a usable PEM public key: EC curve secp256k1 is not one of P-256, P-384, P-521'))
})

t.test('scopesOf', async t => {
  t.strictSame(scopesOf({ scope: 'predict admin' }), ['predict', 'admin'], 'a space-separated scope')
  t.strictSame(scopesOf({ scope: '  predict   admin ' }), ['predict', 'admin'], 'repeated spaces, none empty')
  t.strictSame(scopesOf({ scope: 'predict\u00a0x' }), ['predict\u00a0x'], 'split on the ASCII space only: a no-break space grants nothing')
  t.strictSame(scopesOf({ scope: 'admin\tpredict\nx' }), ['admin\tpredict\nx'], 'nor a tab or a newline')
  t.strictSame(scopesOf({ scopes: ['admin', 'predict'] }), ['admin', 'predict'], 'a scopes array')
  t.strictSame(scopesOf({ scope: 'predict admin', scopes: ['admin', 'metrics'] }), ['predict', 'admin', 'metrics'], 'both, without duplicates')
  t.strictSame(scopesOf({ scope: 'predict predict' }), ['predict'], 'no duplicates')
  t.strictSame(scopesOf({ scope: '' }), [])
  t.strictSame(scopesOf({ scope: ['predict'], scopes: 'predict' }), [], 'scope must be a string, scopes an array')
  t.strictSame(scopesOf({ scopes: ['predict', 1, null, { admin: true }, ['admin']] }), ['predict'], 'only the strings of the array')
  t.strictSame(scopesOf({ scope: 42 }), [])
  t.strictSame(scopesOf({ sub: 'alice' }), [], 'no scope claims')
  for (const junk of [null, undefined, 'predict', 42, true]) t.strictSame(scopesOf(junk), [], `claims ${String(junk)}`)
  t.strictSame(scopesOf(['predict']), [], 'an array is not claims')
})

t.test('tokenTimeProblem', async t => {
  const now = 1_800_000_000
  t.equal(tokenTimeProblem({}, now, 0), undefined, 'no iat, no maximum age')
  t.equal(tokenTimeProblem({ iat: now - 10 ** 8, exp: now + 10 ** 9 }, now, 0), undefined, 'any lifetime without a maximum age')
  t.equal(tokenTimeProblem({ iat: now + CLOCK_SKEW_SECONDS }, now, 0), undefined, 'iat within the clock skew')
  t.equal(tokenTimeProblem({ iat: now + CLOCK_SKEW_SECONDS + 1 }, now, 0), 'The token is issued in the future (iat).')
  for (const iat of ['yesterday', null, Infinity, NaN, [now], { now }]) {
    t.equal(tokenTimeProblem({ iat }, now, 0), 'The iat claim must be a number of seconds.', `iat ${String(iat)}`)
  }
  t.equal(tokenTimeProblem({ exp: now + 60 }, now, 3600), 'The token has no iat claim; this server limits token age (JWT_MAX_AGE).')
  t.equal(tokenTimeProblem({ iat: now - 3600, exp: now + 1 }, now, 3600), 'The token lives longer than 3600 s (JWT_MAX_AGE).', 'iat to exp is the lifetime')
  t.equal(tokenTimeProblem({ iat: now - 3600, exp: now }, now, 3600), undefined, 'exactly the maximum age')
  t.equal(tokenTimeProblem({ iat: now - 3601 }, now, 3600), 'The token is older than 3600 s (JWT_MAX_AGE).')
  t.equal(tokenTimeProblem({ iat: now, exp: 1e20 }, now, 3600), 'The token lives longer than 3600 s (JWT_MAX_AGE).')
})
