import { Type, type FastifyPluginAsyncTypebox, type Static } from '@fastify/type-provider-typebox'
import { version as serverVersion } from '../../package.json'
import { tritonModelConfig, v2ModelMetadata } from '../../lib/protocols/rest/metadata'
import { notFound } from '../../plugins/errors'
import { HEADER_LENGTH_HEADER, inferV2, parseHeaderLength } from '../../lib/protocols/v2/codec'
import { V2InferResponse, V2Live, V2ModelMetadata, V2ModelParams, V2Ready, V2ServerMetadata, v2Errors } from '../../lib/protocols/v2/wire'

// The Open Inference Protocol (KServe v2), as Triton and MLServer speak it.
// Health is public like /health/*; everything else needs the predict scope.
const predict = { scope: 'predict' } as const
// Metadata and configuration carry an ETag (plugins/caching).
const metadata = { ...predict, etag: true } as const
const probe = { rateLimit: false, shed: false } as const
const EXTENSIONS = ['binary_tensor_data', 'model_repository', 'model_configuration']

const v2: FastifyPluginAsyncTypebox = async (fastify) => {
  // Unknown URLs under /v2 get the protocol's {"error"} (autohooks.ts sets its error handler).
  fastify.setNotFoundHandler({ preHandler: fastify.notFoundRateLimit }, async (request) => { throw notFound(request) })

  fastify.get('/', {
    config: predict,
    schema: { summary: 'Server metadata and the protocol extensions served', tags: ['v2'], response: { 200: V2ServerMetadata, ...v2Errors(401, 403, 429) } }
  }, async () => ({ name: 'onnx-serve', version: serverVersion, extensions: EXTENSIONS }))

  fastify.get('/health/live', {
    config: probe,
    schema: { summary: 'Server liveness', tags: ['v2'], response: { 200: V2Live } }
  }, async () => ({ live: true }))

  fastify.get('/health/ready', {
    config: probe,
    schema: { summary: 'Server readiness', tags: ['v2'], response: { 200: V2Ready, 503: v2Errors(503)[503] } }
  }, async (_request, reply) => {
    const reason = fastify.notReadyReason()
    if (reason === undefined) return { ready: true }
    return reply.code(503).header('retry-after', '5').send({ error: reason })
  })

  const version = (raw: string | undefined): number | undefined => raw === undefined ? undefined : Number(raw)

  for (const path of ['/models/:name', '/models/:name/versions/:version']) {
    fastify.get(path, {
      config: metadata,
      schema: { summary: 'Model metadata', tags: ['v2'], params: V2ModelParams, response: { 200: V2ModelMetadata, ...v2Errors(400, 401, 403, 404, 429, 503) } }
    }, async (request) => {
      const model = fastify.models.get(request.params.name, version(request.params.version))
      return v2ModelMetadata(fastify.models.entry(model.name), model)
    })

    fastify.get(`${path}/ready`, {
      config: predict,
      schema: { summary: 'Model readiness', tags: ['v2'], params: V2ModelParams, response: { 200: V2Ready, ...v2Errors(400, 401, 403, 404, 429, 503) } }
    }, async (request) => {
      const model = fastify.models.get(request.params.name, version(request.params.version))
      return { name: model.name, ready: true }
    })

    fastify.get(`${path}/config`, {
      config: metadata,
      schema: { summary: 'The model configuration, as Triton gives it', tags: ['v2'], params: V2ModelParams, response: { 200: Type.Record(Type.String(), Type.Unknown()), ...v2Errors(400, 401, 403, 404, 429, 503) } }
    }, async (request) => {
      const model = fastify.models.get(request.params.name, version(request.params.version))
      return tritonModelConfig(fastify.models.entry(model.name), model)
    })

    fastify.post(`${path}/infer`, {
      config: { ...predict, rawBody: true, inference: true },
      schema: {
        summary: 'Inference: JSON tensors, or Triton\'s binary tensor data extension',
        tags: ['v2'],
        params: V2ModelParams,
        response: { 200: V2InferResponse, ...v2Errors(400, 401, 403, 404, 413, 415, 429, 503, 504) }
      }
    }, async (request, reply) => {
      const model = fastify.inference.model(request.params.name, version(request.params.version))
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
      const { response: encoded, log } = await inferV2(fastify.inference, model, body, parseHeaderLength(request.headers[HEADER_LENGTH_HEADER]))
      request.inference = log
      // Already encoded (the binary extension appends raw bytes to the JSON):
      // Fastify sends a Buffer as it is; the 200 schema documents its JSON part.
      const payload = encoded.body as unknown as Static<typeof V2InferResponse>
      if (encoded.headerLength === undefined) return reply.type('application/json; charset=utf-8').send(payload)
      return reply.header(HEADER_LENGTH_HEADER, String(encoded.headerLength)).type('application/octet-stream').send(payload)
    })
  }
}

export default v2
