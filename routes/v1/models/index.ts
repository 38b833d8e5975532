import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { describeModel, summarizeModel } from '../../../lib/model-metadata'
import { predictInstances } from '../../../lib/predictions'
import { errorResponses } from '../../../schemas/errors'
import { ModelList, ModelMetadataSchema, ModelParams, ModelVersionParams } from '../../../schemas/models'
import { InstancesBody, InstancesReply } from '../../../schemas/predict'

// Model metadata and predictions need the predict scope.
const config = { scope: 'predict' } as const

const models: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/', {
    config,
    schema: { summary: 'List the models and their state', tags: ['models'], response: { 200: ModelList } }
  }, async () => ({
    default_model: fastify.models.defaultModel(),
    models: fastify.models.list().map(summarizeModel)
  }))

  fastify.get('/:name', {
    config,
    schema: {
      summary: 'A model\'s metadata: versions, inputs, outputs, labels, config',
      tags: ['models'],
      params: ModelParams,
      response: { 200: ModelMetadataSchema, ...errorResponses(400, 401, 403, 404, 429, 503) }
    }
  }, async (request) => {
    const entry = fastify.models.entry(request.params.name)
    return describeModel(entry, fastify.models.get(entry.name))
  })

  const predictSchema = {
    tags: ['predict'],
    body: InstancesBody,
    response: { 200: InstancesReply, ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503, 504) }
  }

  async function predict (request: FastifyRequest, name: string, instances: unknown[], version?: number): Promise<{ predictions: unknown[] }> {
    const model = fastify.models.get(name, version)
    const result = await predictInstances(fastify.models, model, instances, fastify.predictionLimits)
    request.inference = { model: model.name, version: model.version, rows: result.rows, inferenceMs: result.inferenceMs }
    return { predictions: result.predictions }
  }

  fastify.post('/:name/predict', {
    config,
    schema: { ...predictSchema, summary: 'Predict with a model\'s default version (TF Serving row format)', params: ModelParams }
  }, async (request) => predict(request, request.params.name, request.body.instances))

  fastify.post('/:name/versions/:version/predict', {
    config,
    schema: { ...predictSchema, summary: 'Predict with one version of a model (TF Serving row format)', params: ModelVersionParams }
  }, async (request) => predict(request, request.params.name, request.body.instances, Number(request.params.version)))
}

export default models
