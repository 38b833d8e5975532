import fp from 'fastify-plugin'
import { InferenceService } from '../lib/data-plane/data-plane'

declare module 'fastify' {
  interface FastifyInstance {
    /** The one road to a model for every API (lib/inference-service). */
    inference: InferenceService
  }
}

export default fp(async (fastify) => {
  const { config } = fastify
  fastify.decorate('inference', new InferenceService(fastify.models, { maxRows: config.maxRows, maxElements: config.maxTensorElements }, fastify.predictionCache))
}, { name: 'inference', dependencies: ['config', 'models', 'caching'] })
