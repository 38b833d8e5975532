// Tokens and assertions shared by the auth tests.

import type { Test } from 'tap'
import { createHmac, type KeyObject } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { createSigner } from 'fast-jwt'
import { assertError } from './responses'

export const REALM = 'Bearer realm="onnx-serve"'
export const setosa = [5.1, 3.5, 1.4, 0.2]
export const ALGORITHM = 'The token algorithm is invalid.'

export const nowSeconds = (): number => Math.floor(Date.now() / 1000)
export const base64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A token built by hand: any header, any claims, HMAC-SHA256 over them with `key`. */
export function handMadeHs256 (claims: Record<string, unknown>, key: string, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }): string {
  const signingInput = `${base64url(header)}.${base64url(claims)}`
  return `${signingInput}.${createHmac('sha256', key).update(signingInput).digest('base64url')}`
}

export const pem = (key: KeyObject): string => key.export({ type: key.type === 'public' ? 'spki' : 'pkcs8', format: 'pem' }) as string

export function sign (key: KeyObject | string, algorithm: 'HS256' | 'HS512' | 'RS256' | 'RS384' | 'ES256' | 'EdDSA', claims: Record<string, unknown>, extra: { kid?: string, header?: { jku?: string, x5u?: string } } = {}): string {
  const header = extra.header === undefined ? undefined : { alg: algorithm, ...extra.header }
  return createSigner({ key: typeof key === 'string' ? key : pem(key), algorithm, expiresIn: 60_000, kid: extra.kid, header })(claims)
}

export function predict (app: FastifyInstance, authorization?: string, remoteAddress?: string): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: '/predict',
    payload: { input_data: setosa },
    headers: authorization === undefined ? {} : { authorization },
    remoteAddress
  })
}

export function assertPredicted (t: Test, res: LightMyRequestResponse, what: string): void {
  t.equal(res.statusCode, 200, `${what}: 200`)
  t.strictSame(res.json(), { prediction: ['setosa'] }, `${what}: the prediction`)
}

export const unauthorized = (message: string) => ({ statusCode: 401, code: 'ONNX_SERVE_UNAUTHORIZED', message })

/** A 401 for a token that did not verify, with the reason in the body and in WWW-Authenticate. */
export function assertInvalidToken (t: Test, res: LightMyRequestResponse, reason: string, what: string): void {
  assertError(t, res, unauthorized(`invalid token: ${reason}`), what)
  t.equal(res.headers['www-authenticate'], `${REALM}, error="invalid_token", error_description="${reason}"`, `${what}: WWW-Authenticate`)
}
