import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { describeModel, summarizeModel } from '../../../lib/protocols/rest/metadata'
import { predictTfServing, type TfServingReply as TfServingReplyType, type TfServingRequest } from '../../../lib/protocols/rest/predictions'
import { errorResponses } from '../../../schemas/errors'
import { MODEL_NAME_PATTERN, MODEL_VERSION_PATTERN, ModelList, ModelMetadataSchema, ModelParams, ModelVersionParams } from '../../../schemas/models'
import { TfServingBody, TfServingReply } from '../../../lib/protocols/rest/wire'

// Model metadata and predictions need the predict scope; metadata carries an ETag (plugins/caching).
const config = { scope: 'predict' } as const
const metadataConfig = { ...config, etag: true } as const
const predictConfig = { ...config, inference: true } as const

const models: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/', {
    config,
    schema: { summary: 'List the models and their state', tags: ['models'], response: { 200: ModelList } }
  }, async () => ({
    default_model: fastify.models.defaultModel(),
    models: fastify.models.list().map(summarizeModel)
  }))

  const metadataSchema = {
    tags: ['models'],
    response: { 200: ModelMetadataSchema, ...errorResponses(400, 401, 403, 404, 429, 503) }
  }
  fastify.get('/:name', {
    config: metadataConfig,
    schema: { ...metadataSchema, summary: 'A model\'s metadata: versions, inputs, outputs, labels, config, status', params: ModelParams }
  }, async (request) => {
    const model = fastify.inference.model(request.params.name)
    return describeModel(fastify.models.entry(model.name), model)
  })

  fastify.get('/:name/versions/:version', {
    config: metadataConfig,
    schema: { ...metadataSchema, summary: 'One version\'s metadata and status (TF Serving\'s model status)', params: ModelVersionParams }
  }, async (request) => {
    const model = fastify.inference.model(request.params.name, Number(request.params.version))
    return describeModel(fastify.models.entry(model.name), model, model.version)
  })

  const predictSchema = {
    tags: ['predict'],
    body: TfServingBody,
    response: { 200: TfServingReply, ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503, 504) }
  }
  const description = 'TF Serving and KServe V1 REST: rows in `instances` give `predictions`; columns in `inputs` give `outputs`.'
  const predict = async (request: FastifyRequest, name: string, body: TfServingRequest, version?: string): Promise<TfServingReplyType> => {
    const model = fastify.inference.model(name, version === undefined ? undefined : Number(version))
    const { reply, log } = await predictTfServing(fastify.inference, model, body)
    request.inference = log
    return reply
  }

  // TF Serving's and KServe's own paths put the verb after a colon; the
  // router takes a literal colon as '::' after a parameter bounded by a pattern.
  const name = `:name(${MODEL_NAME_PATTERN.slice(0, -1)})`
  const version = `:version(${MODEL_VERSION_PATTERN.slice(0, -1)})`
  for (const path of [`/${name}::predict`, '/:name/predict']) {
    fastify.post(path, {
      config: predictConfig,
      schema: { ...predictSchema, summary: 'Predict with a model\'s newest version', description, params: ModelParams }
    }, async (request) => predict(request, request.params.name, request.body))
  }
  for (const path of [`/:name/versions/${version}::predict`, '/:name/versions/:version/predict']) {
    fastify.post(path, {
      config: predictConfig,
      schema: { ...predictSchema, summary: 'Predict with one version of a model', description, params: ModelVersionParams }
    }, async (request) => predict(request, request.params.name, request.body, request.params.version))
  }
}

export default models
