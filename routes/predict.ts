import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { predictOutput } from '../lib/protocols/rest/predictions'
import { errorResponses } from '../schemas/errors'
import { PredictBody, PredictReply } from '../lib/protocols/rest/wire'

const predict: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/predict', {
    config: { scope: 'predict', inference: true },
    schema: {
      summary: 'Predict with the default model',
      description: 'One row or an array of rows in `input_data`; one prediction per row, class names where the model has labels.',
      tags: ['predict'],
      body: PredictBody,
      response: { 200: PredictReply, ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503, 504) }
    }
  }, async (request) => {
    const { reply, log } = await predictOutput(fastify.inference, fastify.inference.model(undefined), request.body.input_data)
    request.inference = log
    return reply
  })
}

export default predict
