// The root plugin: our plugins first (config, models, errors, …), then the
// route files. server.ts and the tests both build the app from here.

import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import type { IncomingMessage } from 'node:http'
import AutoLoad from '@fastify/autoload'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import type { AppConfig } from './lib/config'
import { RequestLogController } from './plugins/request-log'

export interface AppOptions {
  config: AppConfig
}

// A client's id is kept when it is a sane token, so a trace can follow one
// request across services; anything else (huge, control characters) is replaced.
const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/

export function requestId (request: IncomingMessage): string {
  const header = request.headers['x-request-id']
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID()
}

/** Fastify's constructor options for a configuration. */
export function serverOptions (config: AppConfig): FastifyServerOptions {
  return {
    logger: {
      level: config.logLevel,
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'], censor: '[redacted]' }
    },
    genReqId: requestId,
    logController: new RequestLogController(),
    bodyLimit: config.bodyLimit,
    ajv: {
      customOptions: {
        // Refuse unknown keys with a message instead of silently dropping them.
        removeAdditional: false,
        // Keeps the offending value on each error, so a message can say what was received.
        verbose: true
      }
    }
  }
}

async function app (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  await fastify.register(AutoLoad, {
    dir: join(__dirname, 'plugins'),
    options: opts
  })
  await fastify.register(AutoLoad, {
    dir: join(__dirname, 'routes'),
    options: opts
  })
}

// Not encapsulated: server.ts reads the decorators (lifecycle) from outside.
export default fp(app, { name: 'onnx-serve' })
