import fp from 'fastify-plugin'
import jwt, { type VerifyOptions } from '@fastify/jwt'
import type { FastifyRequest } from 'fastify'
import { LRUCache } from 'lru-cache'
import { scopesOf, tokenTimeProblem } from '../lib/auth/auth-key'
import { countingKey } from '../lib/auth/client-address'
import { ForbiddenError, ServeError, TooManyRequestsError, UnauthorizedError } from '../lib/errors'
import { KeySet, UnknownKeyError } from '../lib/auth/key-set'
import type { AuthFailureReason } from '../lib/metrics/server-metrics'
import { routeOf } from '../http/route-of'

export type Scope = 'predict' | 'admin' | 'metrics'

export interface TokenClaims {
  sub?: string
  scope?: string
  scopes?: string[]
  [claim: string]: unknown
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: TokenClaims
    user: TokenClaims
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a route needs; routes without one are public. */
    scope?: Scope
  }
  interface FastifyInstance {
    /**
     * For a public route that shows more to a caller with a token: whether
     * the request's bearer token grants `scope`. No Authorization header:
     * false; a bad token is refused (401, counted like any failed attempt).
     */
    grants: (request: FastifyRequest, scope: Scope) => Promise<boolean>
  }
}

const REALM = 'Bearer realm="onnx-serve"'

// The description may quote a token's own text: only printable ASCII, no
// quotes or backslashes, may reach the header (anything else makes Node throw).
function challenge (error: string, description: string): string {
  return `${REALM}, error="${error}", error_description="${description.replace(/[^\x20-\x7e]|["\\]/g, '')}"`
}

/** Verified tokens kept (successes only: a refused token costs the server nothing to remember). */
const VERIFIED_TOKENS = 10_000
const VERIFIED_TOKENS_BYTES = 32 * 1024 * 1024
/** A verified token is checked again at least this often. */
const VERIFIED_TOKEN_TTL_MS = 10 * 60_000
/** Addresses remembered as over their failed-authentication limit. */
const BLOCKED_ADDRESSES = 100_000

/**
 * Bearer JWT on @fastify/jwt, verified against one configured key with its
 * algorithms pinned (never `none`), `exp` required, `nbf`, `iss` and `aud`
 * checked, `iat` sane and within JWT_MAX_AGE. One global onRequest hook
 * guards every route whose config names a scope: 401 with WWW-Authenticate
 * for a missing or bad token, 403 for a missing scope, 503 while no key can
 * be had from JWKS_URL.
 *
 * What an anonymous flood can cost is bounded: failed attempts are counted
 * per address (AUTH_FAILURE_LIMIT), and an address past its limit is
 * refused with 429 before any verification work; only tokens that verified
 * are remembered (bounded in entries and bytes), so distinct bad tokens
 * fill nothing.
 */
export default fp(async (fastify) => {
  const { config } = fastify
  const key = config.auth
  const verify: Partial<VerifyOptions> = {
    algorithms: key.algorithms as VerifyOptions['algorithms'],
    // allowedIss/allowedAud only check a claim that is there: a configured
    // issuer or audience must also be present.
    requiredClaims: ['exp', ...(config.jwtIssuer === undefined ? [] : ['iss']), ...(config.jwtAudience === undefined ? [] : ['aud'])],
    allowedIss: config.jwtIssuer,
    allowedAud: config.jwtAudience,
    // fast-jwt's own cache keeps refused tokens too; ours (below) keeps only verified ones.
    cache: false
  }
  if (key.kind === 'jwks') {
    const keySet = new KeySet({
      url: key.url,
      ...config.jwks,
      onFetchError: error => fastify.log.warn({ err: error }, 'cannot fetch the token key set (JWKS_URL)')
    })
    await fastify.register(jwt, {
      decode: { complete: true },
      verify,
      secret: (_request, token, callback) => {
        const header = 'header' in token ? token.header : token
        keySet.publicKey(header.kid, header.alg).then(publicKey => callback(null, publicKey), (error: Error) => callback(error, undefined))
      },
      formatUser: (payload) => ('payload' in payload ? payload.payload : payload) as TokenClaims
    })
  } else {
    await fastify.register(jwt, { secret: key.kind === 'secret' ? key.secret : { public: key.publicKey }, verify })
  }
  if (key.kind === 'secret' && key.development) {
    fastify.log.warn('NO JWT KEY CONFIGURED: tokens are signed with the fixed development secret, which anyone can read. Set JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL before exposing this server.')
  }

  const verified = new LRUCache<string, TokenClaims>({
    max: VERIFIED_TOKENS,
    maxSize: VERIFIED_TOKENS_BYTES,
    sizeCalculation: (_claims, token) => token.length,
    ttl: VERIFIED_TOKEN_TTL_MS
  })
  const blocked = new LRUCache<string, true>({ max: BLOCKED_ADDRESSES, ttl: config.rateLimitWindowMs })
  const failedAttempts = fastify.createRateLimit({
    max: config.authFailureLimit,
    timeWindow: config.rateLimitWindowMs,
    keyGenerator: (request: FastifyRequest) => `auth-failure:${clientKey(request)}`
  })

  async function refuse (request: FastifyRequest, error: UnauthorizedError, reason: AuthFailureReason): Promise<never> {
    fastify.metrics.authFailures.inc({ reason })
    const limit = await failedAttempts(request)
    if (!limit.isAllowed && limit.isExceeded) {
      blocked.set(clientKey(request), true, { ttl: limit.ttlInSeconds * 1000 })
      throw tooManyFailures(limit.ttlInSeconds)
    }
    throw error
  }

  /** The claims of the request's bearer token, or a refusal. */
  async function authenticate (request: FastifyRequest): Promise<TokenClaims> {
    const header = request.headers.authorization
    // The scheme is case-insensitive (RFC 7235); the token is RFC 6750's b64token.
    const token = header !== undefined && /^Bearer [A-Za-z0-9._~+/=-]+$/i.test(header) ? header.slice(7) : undefined
    const known = token === undefined ? undefined : verified.get(token)
    if (known !== undefined) return known
    // Past its limit an address gets nothing but a 429, however good its guesses.
    const remaining = blocked.getRemainingTTL(clientKey(request))
    if (remaining > 0) throw tooManyFailures(remaining / 1000)
    if (header === undefined || header === '') {
      return refuse(request, new UnauthorizedError('missing bearer token: send Authorization: Bearer <token>', REALM), 'missing')
    }
    if (token === undefined) {
      return refuse(request, new UnauthorizedError('malformed Authorization header: expected Bearer <token>', challenge('invalid_request', 'expected Bearer <token>')), 'malformed')
    }
    let claims: TokenClaims
    try {
      claims = await request.jwtVerify()
    } catch (error) {
      // The key server is down: not the token's fault (503, not counted).
      if (error instanceof ServeError) throw error
      return refuse(request, invalidToken(error instanceof UnknownKeyError ? error.message : (error as Error).message), 'invalid')
    }
    const now = Date.now()
    const problem = tokenTimeProblem(claims, now / 1000, config.jwtMaxAgeSeconds)
    if (problem !== undefined) return refuse(request, invalidToken(problem), 'invalid')
    verified.set(token, claims, { ttl: Math.max(1, Math.min(VERIFIED_TOKEN_TTL_MS, validUntil(claims, config.jwtMaxAgeSeconds) - now)) })
    return claims
  }

  // The scopes of a remembered token's claims, worked out once.
  const scopesByClaims = new WeakMap<TokenClaims, string[]>()
  function grantedScopes (claims: TokenClaims): string[] {
    let granted = scopesByClaims.get(claims)
    if (granted === undefined) scopesByClaims.set(claims, granted = scopesOf(claims))
    return granted
  }

  fastify.decorate('grants', async (request: FastifyRequest, scope: Scope) => {
    if (request.headers.authorization === undefined) return false
    request.user ??= await authenticate(request)
    return grantedScopes(request.user).includes(scope)
  })

  fastify.addHook('onRequest', async (request) => {
    const scope = routeOf(request).config.scope
    if (scope === undefined) return
    request.user = await authenticate(request)
    const granted = grantedScopes(request.user)
    if (!granted.includes(scope)) {
      fastify.metrics.authFailures.inc({ reason: 'scope' })
      throw new ForbiddenError(`this route needs the '${scope}' scope; the token has ${granted.length === 0 ? 'none' : granted.join(', ')}`,
        `${REALM}, error="insufficient_scope", scope="${scope}"`)
    }
  })
}, { name: 'auth', dependencies: ['config', 'rate-limit', 'load-shedding', 'metrics'] })

/** Failed authentications are counted per address (IPv6 per /64); the rate-limit plugin refuses non-IP addresses before this. */
function clientKey (request: FastifyRequest): string {
  return countingKey(request.ip)
}

function invalidToken (reason: string): UnauthorizedError {
  return new UnauthorizedError(`invalid token: ${reason}`, challenge('invalid_token', reason))
}

function tooManyFailures (retryAfterSeconds: number): TooManyRequestsError {
  const seconds = Math.max(1, Math.ceil(retryAfterSeconds))
  return new TooManyRequestsError(`too many failed authentications from this address; retry in ${seconds} s`, seconds, 'auth_failures')
}

/** Epoch milliseconds until which a verified token stays valid: its exp, and its iat + the maximum age. */
function validUntil (claims: TokenClaims, maxAgeSeconds: number): number {
  const exp = typeof claims.exp === 'number' ? claims.exp * 1000 : Infinity
  const aged = maxAgeSeconds > 0 && typeof claims.iat === 'number' ? (claims.iat + maxAgeSeconds) * 1000 : Infinity
  return Math.min(exp, aged)
}
