// Which key verifies bearer tokens, and which algorithms it allows: pinned
// to the key's type, so a token can never choose `none` or HS256-with-the-
// public-key for itself.

import { createPrivateKey, createPublicKey } from 'node:crypto'

/** Outside production with no key configured, tokens are signed with this (and the server says so). */
export const DEVELOPMENT_SECRET = 'onnx-serve-development-secret-never-use-in-production'

export type AuthKey =
  | { kind: 'secret', secret: string, algorithms: string[], development: boolean }
  | { kind: 'public-key', publicKey: string, algorithms: string[] }
  | { kind: 'jwks', url: string, algorithms: string[] }

export interface AuthKeySettings {
  secret?: string
  publicKey?: string
  jwksUrl?: string
  production: boolean
}

// Curve → ES algorithm, as JWA defines them.
const EC_ALGORITHMS: Record<string, string> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }

/** The algorithms a PEM public key may verify; throws with the reason when it is not one. */
export function algorithmsForPublicKey (pem: string): string[] {
  // createPublicKey derives the public half of a private key, but the verifier
  // (fast-jwt) refuses private keys, and the server has no business holding one.
  if (isPrivateKey(pem)) throw new Error('this is a private key; give its public key (openssl pkey -pubout), the server only verifies tokens')
  const key = createPublicKey(pem)
  switch (key.asymmetricKeyType) {
    case 'rsa': return ['RS256', 'RS384', 'RS512']
    // rsa-pss (id-RSASSA-PSS) keys fall to the default: fast-jwt cannot read them.
    case 'ec': {
      const algorithm = EC_ALGORITHMS[key.asymmetricKeyDetails?.namedCurve ?? '']
      if (algorithm === undefined) throw new Error(`EC curve ${key.asymmetricKeyDetails?.namedCurve} is not one of P-256, P-384, P-521`)
      return [algorithm]
    }
    case 'ed25519': return ['EdDSA']
    default: throw new Error(`${key.asymmetricKeyType} keys are not supported; use RSA, EC or Ed25519`)
  }
}

function isPrivateKey (pem: string): boolean {
  try {
    createPrivateKey(pem)
    return true
  } catch {
    return false
  }
}

/** Resolves the configured key; throws an Error naming the variable when the settings cannot work. */
export function resolveAuthKey (settings: AuthKeySettings): AuthKey {
  const given = [
    settings.secret !== undefined && 'JWT_SECRET',
    settings.publicKey !== undefined && 'JWT_PUBLIC_KEY',
    settings.jwksUrl !== undefined && 'JWKS_URL'
  ].filter((name): name is string => name !== false)
  if (given.length > 1) throw new Error(`set only one of JWT_SECRET, JWT_PUBLIC_KEY, JWKS_URL (got ${given.join(' and ')})`)
  if (settings.publicKey !== undefined) {
    // Environment files often carry a PEM on one line with literal \n.
    const publicKey = settings.publicKey.replace(/\\n/g, '\n')
    try {
      return { kind: 'public-key', publicKey, algorithms: algorithmsForPublicKey(publicKey) }
    } catch (error) {
      throw new Error(`JWT_PUBLIC_KEY is not a usable PEM public key: ${(error as Error).message}`)
    }
  }
  if (settings.jwksUrl !== undefined) {
    return { kind: 'jwks', url: settings.jwksUrl, algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] }
  }
  if (settings.secret !== undefined) return { kind: 'secret', secret: settings.secret, algorithms: ['HS256'], development: false }
  if (settings.production) {
    throw new Error('NODE_ENV=production needs a token key: set JWT_SECRET (HS256), JWT_PUBLIC_KEY (PEM) or JWKS_URL')
  }
  return { kind: 'secret', secret: DEVELOPMENT_SECRET, algorithms: ['HS256'], development: true }
}

/**
 * Scopes from the `scope` claim or a `scopes` array. The claim is split on
 * the ASCII space only, as RFC 6749 §3.3 delimits it: splitting on any
 * Unicode white space would read "predict\u00a0x" as granting `predict`.
 */
export function scopesOf (claims: unknown): string[] {
  if (typeof claims !== 'object' || claims === null) return []
  const { scope, scopes } = claims as { scope?: unknown, scopes?: unknown }
  const found = new Set<string>()
  if (typeof scope === 'string') for (const name of scope.split(' ')) if (name !== '') found.add(name)
  if (Array.isArray(scopes)) for (const name of scopes) if (typeof name === 'string') found.add(name)
  return [...found]
}

/** Clocks of the token's issuer and of this server may differ by this much. */
export const CLOCK_SKEW_SECONDS = 60

/**
 * What is wrong with a verified token's times beyond what the verifier
 * checks (exp, nbf), or undefined: `iat` must be a number and not in the
 * future; with a maximum age (seconds, 0 for none) `iat` is required, the
 * token may not be older than it, nor be issued for longer than it (an
 * `exp` a century ahead is a lifetime, not an age).
 */
export function tokenTimeProblem (claims: Record<string, unknown>, nowSeconds: number, maxAgeSeconds: number): string | undefined {
  const { iat, exp } = claims
  if (iat === undefined) return maxAgeSeconds === 0 ? undefined : 'The token has no iat claim; this server limits token age (JWT_MAX_AGE).'
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return 'The iat claim must be a number of seconds.'
  if (iat > nowSeconds + CLOCK_SKEW_SECONDS) return 'The token is issued in the future (iat).'
  if (maxAgeSeconds === 0) return undefined
  if (nowSeconds > iat + maxAgeSeconds) return `The token is older than ${maxAgeSeconds} s (JWT_MAX_AGE).`
  if (typeof exp === 'number' && exp - iat > maxAgeSeconds) return `The token lives longer than ${maxAgeSeconds} s (JWT_MAX_AGE).`
  return undefined
}
