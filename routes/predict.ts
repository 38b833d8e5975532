import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { NotFoundError } from '../lib/errors'
import { predictOutput } from '../lib/predictions'
import { errorResponses } from '../schemas/errors'
import { PredictBody, PredictReply } from '../schemas/predict'

const predict: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/predict', {
    config: { scope: 'predict' },
    schema: {
      summary: 'Predict with the default model',
      description: 'One row or an array of rows in `input_data`; one prediction per row, class names where the model has labels.',
      tags: ['predict'],
      body: PredictBody,
      response: { 200: PredictReply, ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503, 504) }
    }
  }, async (request) => {
    const name = fastify.models.defaultModel()
    if (name === undefined) throw new NotFoundError('no model is configured; put one in the model repository or set DEFAULT_MODEL')
    const model = fastify.models.get(name)
    const result = await predictOutput(fastify.models, model, request.body.input_data, fastify.predictionLimits)
    request.inference = { model: model.name, version: model.version, rows: result.rows, inferenceMs: result.inferenceMs }
    return { prediction: result.predictions }
  })
}

export default predict
