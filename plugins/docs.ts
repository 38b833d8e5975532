import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { version } from '../package.json'

/** The OpenAPI 3 document at /docs/json, built from the routes' TypeBox schemas, and Swagger UI at /docs. */
export default fp(async (fastify) => {
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'onnx-serve',
        description: 'Predictions from ONNX models: the classic `/predict`, TF Serving-style `instances`, the Open Inference Protocol (`/v2`), and model metadata.',
        version
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A JWT with the predict scope: onnx-serve token --sub NAME --scope predict (npm run token -- ... in a checkout)' }
        }
      },
      tags: [
        { name: 'predict', description: 'Predictions' },
        { name: 'models', description: 'Model metadata' },
        { name: 'health', description: 'Liveness and readiness' },
        { name: 'v2', description: 'Open Inference Protocol (KServe v2, Triton)' },
        { name: 'repository', description: 'Model repository extension (admin scope)' }
      ]
    },
    // A prefix's index route ('/' in routes/v1/models) is documented as the
    // contract names it: /v1/models, not /v1/models/. Routes that need a
    // scope say so, which gives Swagger UI its Authorize button.
    transform: ({ schema, url, route }) => ({
      schema: route.config?.scope === undefined ? schema : { ...schema, security: [{ bearer: [] }] },
      url: url.length > 1 && url.endsWith('/') ? url.slice(0, -1) : url
    })
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs' })
}, { name: 'docs', dependencies: ['auth'] })
