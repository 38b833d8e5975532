import type { IncomingMessage, ServerResponse } from 'node:http'
import fp from 'fastify-plugin'
import cors from '@fastify/cors'
import helmet, { type HelmetOptions } from 'helmet'

// A content security policy the Swagger UI page works under (it is also
// harmless on JSON answers, which load nothing).
const HELMET_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      // Swagger UI's own inline styles and its data: images.
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:', 'validator.swagger.io'],
      scriptSrc: ["'self'"],
      // Plain-HTTP deployments (in-cluster, localhost) would lose the docs page's assets.
      upgradeInsecureRequests: null
    }
  }
}

/**
 * The headers helmet sets for `options`. They depend on nothing in the
 * request, so they are computed once: @fastify/helmet ran helmet's
 * middleware, parsing its policy again, on every request (8% of the CPU of
 * a prediction).
 */
export function helmetHeaders (options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {}
  const response = {
    setHeader: (name: string, value: unknown) => { headers[name.toLowerCase()] = String(value) },
    removeHeader: (name: string) => { delete headers[name.toLowerCase()] }
  }
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, () => {})
  return headers
}

/**
 * Security headers from helmet on every response, and CORS only for the
 * origins CORS_ORIGIN names.
 */
export default fp(async (fastify) => {
  const headers = helmetHeaders(HELMET_OPTIONS)
  fastify.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers)
    done()
  })
  const origin = fastify.config.corsOrigin
  if (origin !== undefined) {
    await fastify.register(cors, {
      origin: origin === '*' ? '*' : origin,
      methods: ['GET', 'POST'],
      allowedHeaders: ['authorization', 'content-type', 'x-request-id'],
      exposedHeaders: ['x-request-id', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'],
      maxAge: 600
    })
  }
}, { name: 'security', dependencies: ['config'] })
