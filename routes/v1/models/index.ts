import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { MODEL_NAME_PATTERN, MODEL_VERSION_PATTERN } from '../../../lib/models/names'
import { modelList, modelMetadata } from '../../../lib/protocols/rest/metadata'
import { tfServingPredict } from '../../../lib/protocols/rest/tf-serving'
import { ModelList, ModelMetadataSchema, TfServingBody, TfServingReply } from '../../../lib/protocols/rest/wire'
import { errorResponses } from '../../../schemas/errors'
import { ModelParams, ModelVersionParams } from '../../../schemas/params'

// Model metadata and predictions need the predict scope; metadata carries an ETag (plugins/caching).
const config = { scope: 'predict' } as const
const metadataConfig = { ...config, etag: true } as const
const predictConfig = { ...config, inferenceRoute: true } as const

const models: FastifyPluginAsyncTypebox = async (fastify) => {
  const { dataPlane } = fastify

  fastify.get('/', {
    config,
    schema: { summary: 'List the models and their state', tags: ['models'], response: { 200: ModelList, ...errorResponses(401, 403, 429) } }
  }, async () => dataPlane.catalog(modelList))

  const metadataSchema = {
    tags: ['models'],
    response: { 200: ModelMetadataSchema, ...errorResponses(400, 401, 403, 404, 429, 503) }
  }
  fastify.get('/:name', {
    config: metadataConfig,
    schema: { ...metadataSchema, summary: 'A model\'s metadata: versions, inputs, outputs, labels, config, status', params: ModelParams }
  }, async (request) => dataPlane.model({ name: request.params.name }, modelMetadata))

  fastify.get('/:name/versions/:version', {
    config: metadataConfig,
    schema: { ...metadataSchema, summary: 'One version\'s metadata and status (TF Serving\'s model status)', params: ModelVersionParams }
  }, async (request) => dataPlane.model({ name: request.params.name, version: Number(request.params.version) }, modelMetadata))

  const predictSchema = {
    tags: ['predict'],
    body: TfServingBody,
    response: { 200: TfServingReply, ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503, 504) }
  }
  const description = 'TF Serving and KServe V1 REST: rows in `instances` give `predictions`; columns in `inputs` give `outputs`.'

  // TF Serving's and KServe's own paths put the verb after a colon; the
  // router takes a literal colon as '::' after a parameter bounded by a pattern.
  const name = `:name(${MODEL_NAME_PATTERN.slice(0, -1)})`
  const version = `:version(${MODEL_VERSION_PATTERN.slice(0, -1)})`
  for (const path of [`/${name}::predict`, '/:name/predict']) {
    fastify.post(path, {
      config: predictConfig,
      schema: { ...predictSchema, summary: 'Predict with a model\'s newest version', description, params: ModelParams }
    }, async (request) => dataPlane.infer(tfServingPredict, { name: request.params.name }, request.body, request.facts))
  }
  for (const path of [`/:name/versions/${version}::predict`, '/:name/versions/:version/predict']) {
    fastify.post(path, {
      config: predictConfig,
      schema: { ...predictSchema, summary: 'Predict with one version of a model', description, params: ModelVersionParams }
    }, async (request) => dataPlane.infer(tfServingPredict, { name: request.params.name, version: Number(request.params.version) }, request.body, request.facts))
  }
}

export default models
