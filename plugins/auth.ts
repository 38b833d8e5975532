import fp from 'fastify-plugin'
import jwt, { type VerifyOptions } from '@fastify/jwt'
import type { FastifyRequest } from 'fastify'
import { TokenError } from 'fast-jwt'
import { LRUCache } from 'lru-cache'
import { scopesOf, tokenTimeProblem } from '../lib/auth/auth-key'
import { blockedAddresses } from '../lib/auth/blocked-addresses'
import { countingKey } from '../lib/auth/client-address'
import { ForbiddenError, ServeError, TooManyRequestsError, UnauthorizedError } from '../lib/errors'
import { KeySet } from '../lib/auth/key-set'
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
     * The claims of the bearer token in `credentials.authorization` (an
     * Authorization header's value), or a refusal (401; 429 past the failed
     * authentications of the address; 503 while no key can be had). Shared
     * by every transport, so HTTP and gRPC refuse alike, count failed
     * attempts in the same counters and give the same messages.
     */
    authenticate: (credentials: Credentials) => Promise<TokenClaims>
    /** Refuses (403) claims without `scope`. */
    requireScope: (claims: TokenClaims, scope: Scope) => void
    /**
     * For a public route that shows more to a caller with a token: whether
     * the request's bearer token grants `scope`. No Authorization header:
     * false; a bad token is refused (401, counted like any failed attempt).
     */
    grants: (request: FastifyRequest, scope: Scope) => Promise<boolean>
  }
}

/** What a transport knows of a caller: its Authorization value and its address. */
export interface Credentials {
  authorization: string | undefined
  address: string
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
  let keySet: KeySet | undefined
  if (key.kind === 'jwks') {
    keySet = new KeySet({
      url: key.url,
      ...config.jwks,
      onFetchError: error => fastify.log.warn({ err: error }, 'cannot fetch the token key set (JWKS_URL)')
    })
    await fastify.register(jwt, {
      decode: { complete: true },
      verify,
      secret: (_request, token, callback) => {
        const header = 'header' in token ? token.header : token
        ;(keySet as KeySet).publicKey(header.kid, header.alg).then(publicKey => callback(null, publicKey), (error: Error) => callback(error, undefined))
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
  const blocked = blockedAddresses(BLOCKED_ADDRESSES, config.rateLimitWindowMs)
  const failedAttempts = fastify.keyedLimiter({ max: config.authFailureLimit, timeWindow: config.rateLimitWindowMs })

  async function refuse (address: string, error: UnauthorizedError, reason: AuthFailureReason): Promise<never> {
    fastify.metrics.authFailures.inc({ reason })
    const limit = await failedAttempts(`auth-failure:${address}`)
    if (limit.exceeded) {
      blocked.set(address, true, { ttl: limit.ttlSeconds * 1000 })
      throw tooManyFailures(limit.ttlSeconds)
    }
    throw error
  }

  /**
   * A token's claims, verified by @fastify/jwt against the configured key
   * (for JWKS_URL, the key its header names); refusals worded as the
   * plugin words them for a request, whichever transport asks.
   */
  async function verifyToken (token: string): Promise<TokenClaims> {
    // Decoded first, as the plugin does for a request: a malformed token is refused in its words.
    const header = fastify.jwt.decode<{ header: { kid?: string, alg?: string } }>(token, { complete: true })?.header
    const publicKey = keySet === undefined ? undefined : await keySet.publicKey(header?.kid, header?.alg)
    try {
      return fastify.jwt.verify<TokenClaims>(token, publicKey === undefined ? undefined : { key: publicKey })
    } catch (error) {
      throw new Error(tokenProblem(error as Error))
    }
  }

  /** The bearer token of an Authorization header, when it has the form of one. */
  function bearerToken (header: string | undefined): string | undefined {
    // The scheme is case-insensitive (RFC 7235); the token is RFC 6750's b64token.
    return header !== undefined && /^Bearer [A-Za-z0-9._~+/=-]+$/i.test(header) ? header.slice(7) : undefined
  }

  /** The claims of a token verified before and still valid, if the header carries one. */
  function rememberedClaims (header: string | undefined): TokenClaims | undefined {
    const token = bearerToken(header)
    return token === undefined ? undefined : verified.get(token)
  }

  /** The claims of a bearer token, or a refusal. */
  async function authenticate (credentials: Credentials): Promise<TokenClaims> {
    return rememberedClaims(credentials.authorization) ?? await verifyAndRemember(credentials)
  }

  /** authenticate for a token not remembered: verified, then remembered until it expires; or a refusal, counted. */
  async function verifyAndRemember ({ authorization: header, address }: Credentials): Promise<TokenClaims> {
    const token = bearerToken(header)
    // Failed authentications are counted per address (IPv6 per /64).
    const counted = countingKey(address)
    // Past its limit an address gets nothing but a 429, however good its guesses.
    const remaining = blocked.getRemainingTTL(counted)
    if (remaining > 0) throw tooManyFailures(remaining / 1000)
    if (header === undefined || header === '') {
      return refuse(counted, new UnauthorizedError('missing bearer token: send Authorization: Bearer <token>', REALM), 'missing')
    }
    if (token === undefined) {
      return refuse(counted, new UnauthorizedError('malformed Authorization header: expected Bearer <token>', challenge('invalid_request', 'expected Bearer <token>')), 'malformed')
    }
    let claims: TokenClaims
    try {
      claims = await verifyToken(token)
    } catch (error) {
      // The key server is down: not the token's fault (503, not counted).
      if (error instanceof ServeError) throw error
      return refuse(counted, invalidToken((error as Error).message), 'invalid')
    }
    const now = Date.now()
    const problem = tokenTimeProblem(claims, now / 1000, config.jwtMaxAgeSeconds)
    if (problem !== undefined) return refuse(counted, invalidToken(problem), 'invalid')
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

  function requireScope (claims: TokenClaims, scope: Scope): void {
    const granted = grantedScopes(claims)
    if (!granted.includes(scope)) {
      fastify.metrics.authFailures.inc({ reason: 'scope' })
      throw new ForbiddenError(`this route needs the '${scope}' scope; the token has ${granted.length === 0 ? 'none' : granted.join(', ')}`,
        `${REALM}, error="insufficient_scope", scope="${scope}"`)
    }
  }

  const credentialsOf = (request: FastifyRequest): Credentials => ({ authorization: request.headers.authorization, address: request.ip })
  fastify.decorate('authenticate', authenticate)
  fastify.decorate('requireScope', requireScope)
  fastify.decorate('grants', async (request: FastifyRequest, scope: Scope) => {
    if (request.headers.authorization === undefined) return false
    request.user ??= await authenticate(credentialsOf(request))
    return grantedScopes(request.user).includes(scope)
  })

  // A callback hook: a token verified before (nearly every request) is
  // checked without a promise or a turn of the microtask queue; any other
  // goes through verifyAndRemember, looked up once.
  fastify.addHook('onRequest', (request, _reply, done) => {
    const scope = routeOf(request).config.scope
    if (scope === undefined) {
      done()
      return
    }
    const authorized = (claims: TokenClaims): void => {
      request.user = claims
      requireScope(claims, scope)
    }
    const known = rememberedClaims(request.headers.authorization)
    if (known === undefined) {
      verifyAndRemember(credentialsOf(request)).then(authorized).then(() => done(), done)
      return
    }
    try {
      authorized(known)
    } catch (error) {
      done(error as Error)
      return
    }
    done()
  })
}, { name: 'auth', dependencies: ['config', 'rate-limit', 'load-shedding', 'metrics'] })

/**
 * Why fast-jwt refused a token, in @fastify/jwt's words for a request (its
 * default messages), so a token refused by the instance's verify reads the
 * same as one refused through request.jwtVerify.
 */
function tokenProblem (error: Error): string {
  if (!(error instanceof TokenError)) return error.message
  switch (error.code) {
    case TokenError.codes.expired: return 'Authorization token expired'
    case TokenError.codes.missingSignature: return 'Unsigned authorization token'
    case TokenError.codes.invalidKey:
    case TokenError.codes.invalidSignature:
    case TokenError.codes.invalidClaimValue:
    case TokenError.codes.missingRequiredClaim: return `Authorization token is invalid: ${error.message}`
    default: return error.message
  }
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
