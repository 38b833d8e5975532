import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { name, version } from '../package.json'

const RootReply = Type.Object({
  name: Type.String(),
  version: Type.String(),
  links: Type.Record(Type.String(), Type.String())
})

// Public, so it names no model: which models a server holds is metadata, and
// every route that tells it (/v1/models, /v2 metadata and repository) needs a token.
const root: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/', {
    schema: { summary: 'What this server is and where to go next', tags: ['health'], response: { 200: RootReply } }
  }, async () => ({
    name,
    version,
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
