import fp from 'fastify-plugin'
import cors from '@fastify/cors'
import helmet from '@fastify/helmet'

/**
 * Security headers (@fastify/helmet) with a content security policy the
 * Swagger UI page works under, and CORS only for the origins CORS_ORIGIN names.
 */
export default fp(async (fastify) => {
  await fastify.register(helmet, {
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
