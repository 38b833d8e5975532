import fp from 'fastify-plugin'
import type { AppOptions } from '../app'
import type { AppConfig } from '../lib/config/config'

declare module 'fastify' {
  interface FastifyInstance {
    config: AppConfig
  }
}

/** The configuration server.ts (or a test) read, for every other plugin. */
export default fp<AppOptions>(async (fastify, opts) => {
  fastify.decorate('config', opts.config)
}, { name: 'config' })
