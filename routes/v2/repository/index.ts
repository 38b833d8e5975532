import type { FastifyPluginAsyncTypebox, TSchema } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { EmptySchema, LoadRequestSchema, RepositoryIndexRequestSchema, RepositoryIndexSchema, UnloadRequestSchema } from '../../../lib/protocols/v2/wire'
import { v2Errors } from '../../../schemas/errors'
import { ModelParams } from '../../../schemas/params'

// The model repository extension (Triton's /v2/repository): admin only.
const config = { scope: 'admin' } as const

// Triton's clients send these requests with no body at all; validate it as {}.
async function emptyBodyAsObject (request: FastifyRequest): Promise<void> {
  if (request.body === undefined || request.body === null) request.body = {}
}

/** A load or an unload: the model's name in the path, Triton's body (which may be absent), an empty answer. */
function modelOperation<Body extends TSchema> (summary: string, body: Body) {
  return {
    config,
    preValidation: emptyBodyAsObject,
    schema: { summary, tags: ['repository'], params: ModelParams, body, response: { 200: EmptySchema, ...v2Errors(400, 401, 403, 404, 429, 503) } }
  }
}

const repository: FastifyPluginAsyncTypebox = async (fastify) => {
  const { dataPlane } = fastify

  fastify.post('/index', {
    config,
    preValidation: emptyBodyAsObject,
    schema: {
      summary: 'The repository index: every model version with its state and the reason it is not ready',
      tags: ['repository'],
      body: RepositoryIndexRequestSchema,
      response: { 200: RepositoryIndexSchema, ...v2Errors(400, 401, 403, 429, 503) }
    }
  }, async (request) => dataPlane.repositoryIndex(request.body.ready === true))

  fastify.post('/models/:name/load', modelOperation(
    'Load (or reload) a model from the repository folder; 400 with the reason when it cannot be served', LoadRequestSchema
  ), async (request) => {
    await dataPlane.load(request.params.name, request.body.parameters)
    return {}
  })

  fastify.post('/models/:name/unload', modelOperation('Unload a model: it answers 503 until loaded again', UnloadRequestSchema), async (request) => {
    await dataPlane.unload(request.params.name)
    return {}
  })
}

export default repository
