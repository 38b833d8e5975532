import type { FastifyPluginAsync } from 'fastify'

/** Scrapes one address may make per minute: Prometheus scrapes a target every 15 to 60 s. */
const SCRAPES_PER_MINUTE = 120

const metrics: FastifyPluginAsync = async (fastify) => {
  const { registry } = fastify.metrics
  // Scrapes that arrive while one is rendering share its text.
  let rendering: Promise<string> | undefined
  const render = (): Promise<string> => {
    rendering ??= registry.metrics().finally(() => { rendering = undefined })
    return rendering
  }

  fastify.get('/metrics', {
    // Answered even under pressure (an overload is when the numbers matter
    // most). Public, and a rendering costs milliseconds of the event loop:
    // limited per address, so a pipelined burst of scrapes is refused cheaply.
    config: { rateLimit: { max: SCRAPES_PER_MINUTE, timeWindow: 60_000 }, shed: false },
    schema: { summary: 'Prometheus metrics (text format)', tags: ['health'], produces: ['text/plain'] }
  }, async (_request, reply) => {
    reply.type(registry.contentType)
    return render()
  })
}

export default metrics
