// Security headers (@fastify/helmet), CORS (@fastify/cors, only with
// CORS_ORIGIN) and which address the per-IP limits see (TRUST_PROXY).

import t from 'tap'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { buildApp } from '../helpers/build-app'
import { assertError } from '../helpers/responses'

const IRIS_ROW = { input_data: [5.1, 3.5, 1.4, 0.2] }

/** The directives of a Content-Security-Policy header, by name. */
function directives (header: unknown): Map<string, string[]> {
  const result = new Map<string, string[]>()
  for (const part of String(header).split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/)
    if (name !== '') result.set(name, sources)
  }
  return result
}

function assertSecurityHeaders (t: tap.Test, res: LightMyRequestResponse, what: string): void {
  t.equal(res.headers['x-content-type-options'], 'nosniff', `${what}: x-content-type-options`)
  t.equal(res.headers['x-frame-options'], 'SAMEORIGIN', `${what}: x-frame-options`)
  t.equal(res.headers['referrer-policy'], 'no-referrer', `${what}: referrer-policy`)
  t.equal(res.headers['cross-origin-opener-policy'], 'same-origin', `${what}: cross-origin-opener-policy`)
  t.equal(res.headers['cross-origin-resource-policy'], 'same-origin', `${what}: cross-origin-resource-policy`)
  t.match(res.headers['strict-transport-security'], /^max-age=\d+/, `${what}: strict-transport-security`)
  t.equal(res.headers['x-xss-protection'], '0', `${what}: the legacy XSS filter is off`)
  t.equal(res.headers['x-powered-by'], undefined, `${what}: no x-powered-by`)
  const csp = directives(res.headers['content-security-policy'])
  t.strictSame(csp.get('default-src'), ["'self'"], `${what}: CSP default-src 'self'`)
  t.strictSame(csp.get('object-src'), ["'none'"], `${what}: CSP object-src 'none'`)
  t.strictSame(csp.get('frame-ancestors'), ["'self'"], `${what}: CSP frame-ancestors 'self'`)
}

t.test('security headers on API, error and docs responses', async t => {
  const app = await buildApp(t)
  const cases: Array<[string, InjectOptions, number]> = [
    ['POST /predict', { method: 'POST', url: '/predict', payload: IRIS_ROW }, 200],
    ['GET /v1/models', { method: 'GET', url: '/v1/models' }, 200],
    ['a 400', { method: 'POST', url: '/predict', payload: { input_data: 'x' } }, 400],
    ['a 404', { method: 'GET', url: '/nowhere' }, 404],
    ['GET /health/ready', { method: 'GET', url: '/health/ready' }, 200],
    ['GET /docs', { method: 'GET', url: '/docs' }, 200],
    ['GET /docs/json', { method: 'GET', url: '/docs/json' }, 200],
    ['GET /docs/static/swagger-initializer.js', { method: 'GET', url: '/docs/static/swagger-initializer.js' }, 200]
  ]
  for (const [what, request, status] of cases) {
    const res = await app.inject(request)
    t.equal(res.statusCode, status, `${what}: status`)
    assertSecurityHeaders(t, res, what)
  }
})

t.test('responses refused by auth carry the security headers too', async t => {
  const app = await buildApp(t, { AUTH_FAILURE_LIMIT: '1' }, { token: false })
  const missing = await app.inject({ method: 'GET', url: '/v1/models' })
  t.equal(missing.statusCode, 401)
  assertSecurityHeaders(t, missing, 'a 401')
  const limited = await app.inject({ method: 'GET', url: '/v1/models' })
  t.equal(limited.statusCode, 429)
  assertSecurityHeaders(t, limited, 'a failed-authentication 429')
})

t.test('the CSP allows what the Swagger UI page loads, and nothing inline', async t => {
  const app = await buildApp(t)
  const page = await app.inject({ method: 'GET', url: '/docs' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  const csp = directives(page.headers['content-security-policy'])
  t.strictSame(csp.get('script-src'), ["'self'"], 'script-src \'self\' only: no inline or eval')
  t.strictSame(csp.get('script-src-attr'), ["'none'"], 'no inline event handlers')
  t.ok(csp.get('style-src')?.includes("'self'"), 'style-src \'self\'')
  t.ok(csp.get('img-src')?.includes('data:'), 'img-src data: (Swagger UI\'s icons)')
  t.notOk(csp.has('upgrade-insecure-requests'), 'no upgrade-insecure-requests: /docs also works over plain HTTP')

  // Every script and stylesheet of the page is served from this origin, and answers.
  const scripts = [...page.body.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)]
  t.ok(scripts.length >= 2, `the page loads ${scripts.length} scripts`)
  const assets: string[] = []
  for (const [, attributes, body] of scripts) {
    const src = /\bsrc="([^"]+)"/.exec(attributes)?.[1]
    t.ok(src !== undefined, 'each script has a src (an inline one would be blocked)')
    t.equal(body.trim(), '', 'and no inline body')
    if (src !== undefined) assets.push(src)
  }
  t.notMatch(page.body, /\son[a-z]+\s*=/i, 'no inline event handler attributes')
  for (const [, href] of page.body.matchAll(/<link rel="stylesheet"[^>]*href="([^"]+)"/g)) assets.push(href)
  for (const src of assets) {
    t.notMatch(src, /^(https?:)?\/\//, `${src} is same-origin`)
    const res = await app.inject({ method: 'GET', url: new URL(src, 'http://localhost/docs').pathname })
    t.equal(res.statusCode, 200, `${src} is served`)
  }
  // Swagger UI lists the hashes of any inline code it needs; the policy must carry them.
  for (const hash of [...app.swaggerCSP.script, ...app.swaggerCSP.style]) {
    t.ok([...(csp.get('script-src') ?? []), ...(csp.get('style-src') ?? [])].includes(hash), `the CSP allows ${hash}`)
  }
})

t.test('without CORS_ORIGIN, no cross-origin access is granted', async t => {
  const app = await buildApp(t)
  const res = await app.inject({ method: 'GET', url: '/v1/models', headers: { origin: 'https://app.example' } })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['access-control-allow-origin'], undefined, 'no access-control-allow-origin')
  t.equal(res.headers['access-control-allow-credentials'], undefined)
  const preflight = await app.inject({
    method: 'OPTIONS',
    url: '/predict',
    headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' }
  })
  t.equal(preflight.headers['access-control-allow-origin'], undefined, 'a preflight is not granted either')
  t.equal(preflight.headers['access-control-allow-methods'], undefined)
  assertError(t, preflight, { statusCode: 404, code: 'NOT_FOUND', message: 'Route OPTIONS:/predict not found' }, 'preflight')
})

t.test('with CORS_ORIGIN=https://app.example', async t => {
  const app = await buildApp(t, { CORS_ORIGIN: 'https://app.example' })
  const preflight = (origin: string): Promise<LightMyRequestResponse> => app.inject({
    method: 'OPTIONS',
    url: '/predict',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, x-request-id' }
  })

  t.test('a preflight from that origin is allowed', async t => {
    const res = await preflight('https://app.example')
    t.equal(res.statusCode, 204)
    t.equal(res.headers['access-control-allow-origin'], 'https://app.example')
    t.match(res.headers.vary, /\bOrigin\b/, 'vary: Origin, so caches keep origins apart')
    const methods = String(res.headers['access-control-allow-methods']).split(/,\s*/)
    t.ok(methods.includes('POST'), `allows POST (${methods.join(', ')})`)
    const allowed = String(res.headers['access-control-allow-headers']).toLowerCase().split(/,\s*/)
    for (const header of ['authorization', 'content-type', 'x-request-id']) t.ok(allowed.includes(header), `allows the ${header} header`)
    t.equal(res.headers['access-control-max-age'], '600')
    t.equal(res.headers['access-control-allow-credentials'], undefined, 'no credentials: tokens go in Authorization')
  })

  t.test('the actual request gets allow-origin and exposes x-request-id and the rate-limit headers', async t => {
    const res = await app.inject({ method: 'POST', url: '/predict', payload: IRIS_ROW, headers: { origin: 'https://app.example', 'x-request-id': 'cors-1' } })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['access-control-allow-origin'], 'https://app.example')
    t.equal(res.headers['x-request-id'], 'cors-1')
    const exposed = String(res.headers['access-control-expose-headers']).toLowerCase().split(/,\s*/)
    for (const header of ['x-request-id', 'retry-after', 'x-ratelimit-remaining']) t.ok(exposed.includes(header), `exposes ${header}`)
  })

  t.test('another origin gets no allow-origin', async t => {
    for (const origin of ['https://evil.example', 'http://app.example', 'https://app.example.evil.test']) {
      const pre = await preflight(origin)
      t.equal(pre.headers['access-control-allow-origin'], undefined, `preflight from ${origin}`)
      const res = await app.inject({ method: 'GET', url: '/v1/models', headers: { origin } })
      t.equal(res.headers['access-control-allow-origin'], undefined, `request from ${origin}`)
    }
  })
})

t.test('which address the per-IP limits see', async t => {
  const anonymous = (app: FastifyInstance, forwardedFor: string, remoteAddress = '10.0.0.1'): Promise<LightMyRequestResponse> =>
    app.inject({ method: 'GET', url: '/', remoteAddress, headers: { 'x-forwarded-for': forwardedFor } })

  t.test('TRUST_PROXY=true: x-forwarded-for is the client address', async t => {
    const app = await buildApp(t, { TRUST_PROXY: 'true', RATE_LIMIT_MAX: '1' }, { token: false })
    t.equal((await anonymous(app, '198.51.100.1')).statusCode, 200)
    t.equal((await anonymous(app, '198.51.100.1')).statusCode, 429, 'the forwarded client is limited')
    const other = await anonymous(app, '198.51.100.2')
    t.equal(other.statusCode, 200, 'another client behind the same proxy has its own quota')
    t.equal(other.headers['x-ratelimit-remaining'], '0')
  })

  t.test('TRUST_PROXY unset: x-forwarded-for is ignored, so forging it dodges nothing', async t => {
    const app = await buildApp(t, { RATE_LIMIT_MAX: '1', AUTH_FAILURE_LIMIT: '1' }, { token: false })
    t.equal((await anonymous(app, '198.51.100.1')).statusCode, 200)
    const forged = await anonymous(app, '198.51.100.2')
    t.equal(forged.statusCode, 429, 'a new x-forwarded-for does not buy a new quota')
    t.equal((await anonymous(app, '198.51.100.3', '10.0.0.2')).statusCode, 200, 'another socket address does')
    // The failed-authentication limit is per IP too.
    const badToken = (forwardedFor: string) => app.inject({ method: 'GET', url: '/v1/models', remoteAddress: '10.0.0.3', headers: { authorization: 'Bearer nope', 'x-forwarded-for': forwardedFor } })
    t.equal((await badToken('203.0.113.1')).statusCode, 401)
    t.equal((await badToken('203.0.113.2')).statusCode, 429, 'nor a new failed-authentication allowance')
  })

  t.test('behind a proxy, a forwarded value that is no IP address is refused, and IPv6 counts by /64', async t => {
    const app = await buildApp(t, { TRUST_PROXY: 'true', RATE_LIMIT_MAX: '1' }, { token: false })
    for (const forged of ['not-an-address', 'unknown', '999.1.1.1', '198.51.100.1:8080', '<script>']) {
      const res = await anonymous(app, forged)
      assertError(t, res, { statusCode: 400, code: 'ONNX_SERVE_BAD_INPUT', message: `headers.x-forwarded-for: expected IP addresses, received ${JSON.stringify(forged)}` }, forged)
    }
    t.equal((await anonymous(app, '2001:db8:5:6::1')).statusCode, 200)
    t.equal((await anonymous(app, '2001:db8:5:6:ffff::2')).statusCode, 429, 'another address of the same /64 shares the quota')
    t.equal((await anonymous(app, '2001:db8:5:7::1')).statusCode, 200, 'the next /64 is another client')
  })

  t.test('TRUST_PROXY=<proxy address>: x-forwarded-for counts only from that proxy', async t => {
    const app = await buildApp(t, { TRUST_PROXY: '10.0.0.1', RATE_LIMIT_MAX: '1' }, { token: false })
    t.equal((await anonymous(app, '198.51.100.1', '10.0.0.1')).statusCode, 200)
    t.equal((await anonymous(app, '198.51.100.2', '10.0.0.1')).statusCode, 200, 'through the proxy: the client address counts')
    t.equal((await anonymous(app, '198.51.100.3', '192.0.2.9')).statusCode, 200)
    t.equal((await anonymous(app, '198.51.100.4', '192.0.2.9')).statusCode, 429, 'from elsewhere: the header is ignored')
  })
})
