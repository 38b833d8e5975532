import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { predict } from '../lib/protocols/rest/predict'
import { PredictBody, PredictReply } from '../lib/protocols/rest/wire'
import { errorResponses } from '../schemas/errors'

const route: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/predict', {
    config: { scope: 'predict', inferenceRoute: true },
    schema: {
      summary: 'Predict with the default model',
      description: 'One row or an array of rows in `input_data`; one prediction per row, class names where the model has labels.',
      tags: ['predict'],
      body: PredictBody,
      response: { 200: PredictReply, ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503, 504) }
    }
  }, async (request) => fastify.dataPlane.infer(predict, {}, request.body, request.facts))
}

export default route
