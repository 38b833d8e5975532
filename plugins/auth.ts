import fp from 'fastify-plugin'
import jwt, { type VerifyOptions } from '@fastify/jwt'
import buildGetJwks from 'get-jwks'
import type { FastifyRequest } from 'fastify'
import { scopesOf } from '../lib/auth-key'
import { ForbiddenError, TooManyRequestsError, UnauthorizedError } from '../lib/errors'

export type Scope = 'predict' | 'admin'

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
}

const REALM = 'Bearer realm="onnx-serve"'

function challenge (error: string, description: string): string {
  return `${REALM}, error="${error}", error_description="${description.replace(/["\\]/g, '')}"`
}

/**
 * Bearer JWT on @fastify/jwt, verified against one configured key with its
 * algorithms pinned (never `none`), `exp` required, `nbf`, `iss` and `aud`
 * checked. One global onRequest hook guards every route whose config names
 * a scope: 401 with WWW-Authenticate for a missing or bad token, 403 for a
 * missing scope. Failed attempts are counted per IP (AUTH_FAILURE_LIMIT) so
 * nobody guesses tokens cheaply; past it, 429.
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
    // A client sends the same token many times: fast-jwt remembers a verified
    // token until its exp (and a refused one), sparing the signature check.
    cache: 10_000
  }
  if (key.kind === 'jwks') {
    const url = new URL(key.url)
    // Keys come from the configured URL only, whatever issuer a token names.
    const getJwks = buildGetJwks({ jwksPath: url.pathname, issuersWhitelist: [url.origin], providerDiscovery: false, ttl: 60_000 })
    await fastify.register(jwt, {
      decode: { complete: true },
      verify,
      secret: (_request, token, callback) => {
        const header = 'header' in token ? token.header : token
        getJwks.getPublicKey({ kid: header.kid, alg: header.alg, domain: url.origin })
          .then(publicKey => callback(null, publicKey), (error: Error) => callback(error, undefined))
      },
      formatUser: (payload) => ('payload' in payload ? payload.payload : payload) as TokenClaims
    })
  } else {
    await fastify.register(jwt, { secret: key.kind === 'secret' ? key.secret : { public: key.publicKey }, verify })
  }
  if (key.kind === 'secret' && key.development) {
    fastify.log.warn('NO JWT KEY CONFIGURED: tokens are signed with the fixed development secret, which anyone can read. Set JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL before exposing this server.')
  }

  const failedAttempts = fastify.createRateLimit({
    max: config.authFailureLimit,
    timeWindow: config.rateLimitWindowMs,
    keyGenerator: (request: FastifyRequest) => `auth-failure:${request.ip}`
  })

  async function refuse (request: FastifyRequest, error: UnauthorizedError): Promise<never> {
    const limit = await failedAttempts(request)
    if (!limit.isAllowed && limit.isExceeded) {
      throw new TooManyRequestsError(`too many failed authentications from this address; retry in ${Math.ceil(limit.ttlInSeconds)} s`, limit.ttlInSeconds)
    }
    throw error
  }

  fastify.addHook('onRequest', async (request) => {
    const scope = request.routeOptions.config.scope
    if (scope === undefined) return
    const header = request.headers.authorization
    if (header === undefined || header === '') {
      return refuse(request, new UnauthorizedError('missing bearer token: send Authorization: Bearer <token>', REALM))
    }
    // The scheme is case-insensitive (RFC 7235); the token is RFC 6750's b64token.
    if (!/^Bearer [A-Za-z0-9._~+/=-]+$/i.test(header)) {
      return refuse(request, new UnauthorizedError('malformed Authorization header: expected Bearer <token>', challenge('invalid_request', 'expected Bearer <token>')))
    }
    try {
      await request.jwtVerify()
    } catch (error) {
      const message = (error as Error).message
      return refuse(request, new UnauthorizedError(`invalid token: ${message}`, challenge('invalid_token', message)))
    }
    const granted = scopesOf(request.user)
    if (!granted.includes(scope)) {
      throw new ForbiddenError(`this route needs the '${scope}' scope; the token has ${granted.length === 0 ? 'none' : granted.join(', ')}`,
        `${REALM}, error="insufficient_scope", scope="${scope}"`)
    }
  })
}, { name: 'auth', dependencies: ['config', 'rate-limit', 'load-shedding'] })
