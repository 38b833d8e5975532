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
        description: 'Predictions from ONNX models: the classic `/predict`, TF Serving-style `instances`, and model metadata.',
        version
      },
      tags: [
        { name: 'predict', description: 'Predictions' },
        { name: 'models', description: 'Model metadata' },
        { name: 'health', description: 'Liveness and readiness' }
      ]
    }
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs' })
}, { name: 'docs' })
