// Bearer tokens for the configured HS256 key (JWT_SECRET, or the
// development secret outside production): `onnx-serve token` and the bench.

import { createSigner } from 'fast-jwt'
import { loadConfig } from '../config/config'

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 }

/** "90s", "15m", "1h", "7d" → seconds. */
export function parseTtl (ttl: string): number {
  // Not 0: a token that expires as it is minted is refused by the server.
  const match = /^([1-9]\d{0,5})([smhd])$/.exec(ttl)
  if (match === null) throw new Error(`--ttl ${JSON.stringify(ttl)} is invalid; expected a positive number and s, m, h or d, like 1h`)
  return Number(match[1]) * UNITS[match[2]]
}

export interface TokenRequest {
  sub: string
  scope: string
  ttlSeconds: number
}

/** Signs a token with the key of `env`'s configuration; refuses keys it cannot sign with. */
export function mintToken (request: TokenRequest, env: NodeJS.ProcessEnv = process.env): string {
  const config = loadConfig(env)
  if (config.auth.kind !== 'secret') {
    throw new Error('onnx-serve token signs with JWT_SECRET (HS256) only; with JWT_PUBLIC_KEY or JWKS_URL, tokens come from whoever holds the private key')
  }
  const sign = createSigner({
    key: config.auth.secret,
    algorithm: 'HS256',
    expiresIn: request.ttlSeconds * 1000,
    iss: config.jwtIssuer,
    aud: config.jwtAudience
  })
  return sign({ sub: request.sub, scope: request.scope })
}
