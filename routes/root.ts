import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { name, version } from '../package.json'

const RootReply = Type.Object({
  name: Type.String(),
  version: Type.String(),
  default_model: Type.Optional(Type.String()),
  models: Type.Array(Type.String()),
  links: Type.Record(Type.String(), Type.String())
})

const root: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/', {
    schema: { summary: 'What this server is and where to go next', tags: ['health'], response: { 200: RootReply } }
  }, async () => ({
    name,
    version,
    default_model: fastify.models.defaultModel(),
    models: fastify.models.list().map(entry => entry.name),
    links: {
      docs: '/docs',
      openapi: '/docs/json',
      models: '/v1/models',
      predict: '/predict',
      live: '/health/live',
      ready: '/health/ready'
    }
  }))
}

export default root
