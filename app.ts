// The root plugin: our plugins first (config, models, errors, …), then the
// route files. server.ts and the tests both build the app from here.

import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http'
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
    routerOptions: {
      // Model names may be 128 characters; longer segments get a JSON 414.
      maxParamLength: 200,
      onMaxParamLength: (_path, _req, res) => {
        sendRawError(res, 414, 'FST_ERR_URI_TOO_LONG', 'a path segment is longer than 200 characters')
      }
    },
    frameworkErrors: (error, request, reply) => {
      // A malformed URL (bad percent-encoding) never reaches the error handler.
      sendRawError(reply.raw, 400, error.code, error.message, request.id)
    },
    ajv: {
      customOptions: {
        // Refuse unknown keys with a message instead of silently dropping them.
        removeAdditional: false,
        // Never turn "1,2" or null into [..]: a body is taken as sent. Path
        // parameters are strings in the schemas for the same reason.
        coerceTypes: false,
        // Keeps the offending value on each error, so a message can say what was received.
        verbose: true
      }
    }
  }
}

/** For the router's own failures, which come before Fastify's reply exists. */
function sendRawError (res: ServerResponse, statusCode: number, code: string, message: string, id?: string): void {
  res.writeHead(statusCode, { 'content-type': 'application/json; charset=utf-8', ...(id === undefined ? {} : { 'x-request-id': id }) })
  res.end(JSON.stringify({ statusCode, code, error: STATUS_CODES[statusCode], message }))
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
