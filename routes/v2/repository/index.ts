import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { InputError } from '../../../lib/errors'
import { ModelParams } from '../../../schemas/models'
import { EmptyReply, LoadBody, RepositoryIndexBody, RepositoryIndexReply, UnloadBody } from '../../../lib/protocols/v2/repository-wire'
import { v2Errors } from '../../../lib/protocols/v2/wire'

// The model repository extension (Triton's /v2/repository): admin only.
const config = { scope: 'admin' } as const

// Triton's clients send these requests with no body at all; validate it as {}.
async function emptyBodyAsObject (request: FastifyRequest): Promise<void> {
  if (request.body === undefined || request.body === null) request.body = {}
}

const repository: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/index', {
    config,
    preValidation: emptyBodyAsObject,
    schema: {
      summary: 'The repository index: every model version with its state and the reason it is not ready',
      tags: ['repository'],
      body: RepositoryIndexBody,
      response: { 200: RepositoryIndexReply, ...v2Errors(400, 401, 403, 429, 503) }
    }
  }, async (request) => {
    const rows = await fastify.models.repositoryIndex()
    return request.body.ready === true ? rows.filter(row => row.state === 'READY') : rows
  })

  fastify.post('/models/:name/load', {
    config,
    preValidation: emptyBodyAsObject,
    schema: {
      summary: 'Load (or reload) a model from the repository folder; 400 with the reason when it cannot be served',
      tags: ['repository'],
      params: ModelParams,
      body: LoadBody,
      response: { 200: EmptyReply, ...v2Errors(400, 401, 403, 404, 429, 503) }
    }
  }, async (request) => {
    const { name } = request.params
    const parameters = Object.keys(request.body.parameters ?? {})
    if (parameters.length > 0) {
      throw new InputError('body.parameters', `body.parameters: load parameters (${parameters.join(', ')}) are not supported; put the model and its config.json in the repository folder and send no parameters`)
    }
    // The entry this load resolved to, not the model's entry now: an unload
    // queued behind the load may already have run, and the answer is about the load.
    const outcome = await fastify.models.load(name)
    if (outcome.state !== 'READY') {
      throw new InputError('name', `failed to load model '${name}': ${outcome.reason ?? `it is ${outcome.state.toLowerCase()}`}`)
    }
    return {}
  })

  fastify.post('/models/:name/unload', {
    config,
    preValidation: emptyBodyAsObject,
    schema: {
      summary: 'Unload a model: it answers 503 until loaded again',
      tags: ['repository'],
      params: ModelParams,
      body: UnloadBody,
      response: { 200: EmptyReply, ...v2Errors(400, 401, 403, 404, 429, 503) }
    }
  }, async (request) => {
    await fastify.models.unload(request.params.name)
    return {}
  })
}

export default repository
