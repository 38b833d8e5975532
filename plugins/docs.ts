import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TObject } from '@sinclair/typebox'
import type { FastifyContextConfig, FastifySchema } from 'fastify'
import { version } from '../package.json'
import { modelPaths } from '../lib/openapi/model-paths'
import { InferRequestSchema } from '../lib/protocols/v2/wire'

/** Only the parameters a path has: one params schema serves a model's versionless and versioned paths. */
function pathParams (params: TObject, url: string): TObject {
  const names = new Set([...url.matchAll(/:(\w+)/g)].map(match => match[1]))
  const kept = Object.fromEntries(Object.entries(params.properties).filter(([name]) => names.has(name)))
  return { ...params, properties: kept, required: (params.required ?? []).filter(name => names.has(name)) }
}

/**
 * A route's schema as the document shows it: its path parameters only, the
 * bearer requirement where a scope is needed (Swagger UI's Authorize
 * button), and the JSON body of the routes that read theirs raw.
 */
function documented (schema: FastifySchema | undefined, url: string, config: FastifyContextConfig | undefined): FastifySchema {
  const shown: FastifySchema = { ...schema }
  if (schema?.params !== undefined) shown.params = pathParams(schema.params as TObject, url)
  if (config?.scope !== undefined) (shown as Record<string, unknown>).security = [{ bearer: [] }]
  if (config?.rawBody === true) shown.body = { ...InferRequestSchema, description: 'JSON tensors; with the binary tensor data extension, the JSON part followed by raw bytes (Inference-Header-Content-Length)' }
  // A 200 without a description would read "Default Response": it says what the operation gives.
  const response = schema?.response as Record<string, { description?: string, type?: string }> | undefined
  // /metrics has no response schema (its text is not serialized): documented as a string.
  const ok = response?.[200] ?? { type: 'string' }
  if (ok.description === undefined && schema?.summary !== undefined) {
    shown.response = { ...response, 200: { ...ok, description: schema.summary } }
  }
  return shown
}

/** The OpenAPI 3 document at /docs/json, built from the routes' TypeBox schemas, and Swagger UI at /docs. */
export default fp(async (fastify) => {
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.1.0',
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
    // contract names it: /v1/models, not /v1/models/.
    transform: ({ schema, url, route }) => ({
      schema: documented(schema, url, route.config),
      url: url.length > 1 && url.endsWith('/') ? url.slice(0, -1) : url
    })
  })
  await fastify.register(swaggerUi, {
    routePrefix: '/docs',
    // Each ready model's own operations, made again for every request of the
    // document: a model loaded or unloaded shows at once.
    transformSpecification: (document: Readonly<Record<string, unknown>>) => {
      const paths = document.paths as Record<string, unknown>
      return { ...document, paths: { ...paths, ...fastify.dataPlane.catalog(modelPaths) } }
    },
    transformSpecificationClone: false
  })
}, { name: 'docs', dependencies: ['auth', 'data-plane'] })
