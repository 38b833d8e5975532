import type { FastifyPluginAsyncTypebox, Static } from '@fastify/type-provider-typebox'
import { notFound } from '../../http/not-found'
import { probeLogLevel } from '../../http/probe-log-level'
import { HEADER_LENGTH_HEADER, httpInfer } from '../../lib/protocols/v2/http-infer'
import { modelConfig, modelMetadata, modelReady, serverMetadata } from '../../lib/protocols/v2/metadata'
import { InferResponseSchema, LiveSchema, ModelConfigSchema, ModelMetadataSchema, ModelStatisticsSchema, ReadySchema, ServerMetadataSchema } from '../../lib/protocols/v2/wire'
import { modelStatistics } from '../../lib/protocols/v2/statistics'
import { v2Errors } from '../../schemas/errors'
import { OptionalVersionParams } from '../../schemas/params'

// The Open Inference Protocol (KServe v2), as Triton and MLServer speak it.
// Health is public like /health/*; everything else needs the predict scope.
const predict = { scope: 'predict' } as const
// Metadata and configuration carry an ETag (plugins/caching).
const metadata = { ...predict, etag: true } as const
const probe = { rateLimit: false, shed: false } as const

const modelRef = (params: Static<typeof OptionalVersionParams>): { name: string, version?: number } =>
  ({ name: params.name, version: params.version === undefined ? undefined : Number(params.version) })

const v2: FastifyPluginAsyncTypebox = async (fastify) => {
  const { dataPlane } = fastify
  // Unknown URLs under /v2 get the protocol's {"error"} (autohooks.ts sets its error handler).
  fastify.setNotFoundHandler(async (request) => { throw notFound(request) })

  fastify.get('/', {
    config: predict,
    schema: { summary: 'Server metadata and the protocol extensions served', tags: ['v2'], response: { 200: ServerMetadataSchema, ...v2Errors(401, 403, 429) } }
  }, async () => dataPlane.server(serverMetadata))

  // Liveness and readiness: the protocol's body while the data plane finds nothing wrong, else 503 and why.
  for (const health of [
    { path: '/health/live', summary: 'Server liveness', schema: LiveSchema, ok: { live: true }, reason: () => dataPlane.notLiveReason() },
    { path: '/health/ready', summary: 'Server readiness', schema: ReadySchema, ok: { ready: true }, reason: () => dataPlane.notReadyReason(), retryAfter: '5' }
  ]) {
    fastify.get(health.path, {
      logLevel: probeLogLevel(fastify.config.logLevel),
      config: probe,
      schema: { summary: health.summary, tags: ['v2'], response: { 200: health.schema, 503: v2Errors(503)[503] } }
    }, async (_request, reply) => {
      const reason = health.reason()
      if (reason === undefined) return health.ok
      if (health.retryAfter !== undefined) reply.header('retry-after', health.retryAfter)
      return reply.code(503).send({ error: reason })
    })
  }

  const modelErrors = v2Errors(400, 401, 403, 404, 429, 503)
  // The statistics extension. /models/stats is static, so it wins over a
  // model named "stats" (whose metadata is then only at /models/stats/versions/N), as in Triton.
  const statisticsSchema = { summary: 'Statistics of every served model version, as Triton counts them', tags: ['v2'], response: { 200: ModelStatisticsSchema, ...v2Errors(401, 403, 429) } }
  fastify.get('/models/stats', { config: predict, schema: statisticsSchema }, async () => await dataPlane.statistics({}, modelStatistics))

  for (const path of ['/models/:name', '/models/:name/versions/:version']) {
    fastify.get(`${path}/stats`, {
      config: predict,
      schema: { summary: 'Statistics of the model\'s served versions (or of one), as Triton counts them', tags: ['v2'], params: OptionalVersionParams, response: { 200: ModelStatisticsSchema, ...modelErrors } }
    }, async (request) => await dataPlane.statistics(modelRef(request.params), modelStatistics))

    fastify.get(path, {
      config: metadata,
      schema: { summary: 'Model metadata', tags: ['v2'], params: OptionalVersionParams, response: { 200: ModelMetadataSchema, ...modelErrors } }
    }, async (request) => dataPlane.model(modelRef(request.params), modelMetadata))

    fastify.get(`${path}/ready`, {
      config: predict,
      schema: { summary: 'Model readiness', tags: ['v2'], params: OptionalVersionParams, response: { 200: ReadySchema, ...modelErrors } }
    }, async (request) => dataPlane.model(modelRef(request.params), modelReady))

    fastify.get(`${path}/config`, {
      config: metadata,
      schema: { summary: 'The model configuration, as Triton gives it', tags: ['v2'], params: OptionalVersionParams, response: { 200: ModelConfigSchema, ...modelErrors } }
    }, async (request) => dataPlane.model(modelRef(request.params), modelConfig))

    fastify.post(`${path}/infer`, {
      config: { ...predict, rawBody: true, inferenceRoute: true },
      schema: {
        summary: 'Inference: JSON tensors, or Triton\'s binary tensor data extension',
        tags: ['v2'],
        params: OptionalVersionParams,
        response: { 200: InferResponseSchema, ...v2Errors(400, 401, 403, 404, 413, 415, 429, 503, 504) }
      }
    }, async (request, reply) => {
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
      const encoded = await dataPlane.infer(httpInfer, modelRef(request.params), { body, headerLength: request.headers[HEADER_LENGTH_HEADER] }, request.facts)
      // Already encoded (the binary extension appends raw bytes to the JSON):
      // Fastify sends a Buffer as it is; the 200 schema documents its JSON part.
      const payload = encoded.body as unknown as Static<typeof InferResponseSchema>
      if (encoded.headerLength === undefined) return reply.type('application/json; charset=utf-8').send(payload)
      return reply.header(HEADER_LENGTH_HEADER, String(encoded.headerLength)).type('application/octet-stream').send(payload)
    })
  }
}

export default v2
