import fp from 'fastify-plugin'

/**
 * Bodies are JSON. Fastify also parses text/plain by default, which would
 * turn a wrong content type into a confusing validation error instead of 415.
 */
export default fp(async (fastify) => {
  fastify.removeContentTypeParser('text/plain')
}, { name: 'content-types' })
