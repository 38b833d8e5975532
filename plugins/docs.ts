import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TObject } from '@sinclair/typebox'
import type { FastifyContextConfig, FastifyInstance, FastifyRequest, FastifySchema } from 'fastify'
import { version } from '../package.json'
import { servedDocument } from '../lib/openapi/served-document'
import { InferRequestSchema } from '../lib/protocols/v2/wire'
import { DOCS_DOCUMENT_ROUTES, docsUiConfig } from '../http/docs-ui'
import { routeOf } from '../http/route-of'

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
  // Who sees the models: every caller with DOCS_PUBLIC_MODELS=true, else
  // only a token with the predict scope (the page fetches the document again
  // after Authorize), with the default model's examples (servedDocument).
  // Anonymous callers learn no model name here. Both documents are made
  // once per change of the model set, their JSON text with them: the
  // document is public, and costs milliseconds with a few dozen models.
  const showsModels = new WeakSet<FastifyRequest>()
  const served = servedDocuments(fastify)
  await fastify.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: docsUiConfig,
    uiHooks: {
      onRequest: async (request, reply) => {
        const route = routeOf(request).url ?? ''
        if (!DOCS_DOCUMENT_ROUTES.has(route)) return
        reply.header('vary', 'authorization')
        const shown = fastify.config.docsPublicModels || await fastify.grants(request, 'predict')
        if (route === '/docs/yaml') {
          if (shown) showsModels.add(request)
          return
        }
        return await reply.type('application/json; charset=utf-8').send(served(fastify.swagger(), shown).json)
      }
    },
    transformSpecification: (document, request) => served(document, showsModels.has(request)).document,
    transformSpecificationClone: false
  })
}, { name: 'docs', dependencies: ['auth', 'data-plane'] })

/** The document as shown with and without the models, made again only when the set of models has changed. */
function servedDocuments (fastify: FastifyInstance): (base: Readonly<{ paths?: object }>, showModels: boolean) => { document: Record<string, unknown>, json: string } {
  type Made = { document: Record<string, unknown>, json: string }
  let made: { revision: number, shown: Map<boolean, Made> } | undefined
  return (base, showModels) => {
    const revision = fastify.dataPlane.catalogRevision()
    if (made?.revision !== revision) made = { revision, shown: new Map() }
    let document = made.shown.get(showModels)
    if (document === undefined) {
      const shown = (showModels ? fastify.dataPlane.catalog(catalog => servedDocument(base, catalog)) : base) as Record<string, unknown>
      document = { document: shown, json: JSON.stringify(shown) }
      made.shown.set(showModels, document)
    }
    return document
  }
}
