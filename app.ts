// The root plugin: the request pipeline in order, then the route files.
// server.ts and the tests both build the app from here (with the
// constructor options of http/server-options).

import { join } from 'node:path'
import AutoLoad from '@fastify/autoload'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { AppConfig } from './lib/config/config'
import auth from './plugins/auth'
import caching from './plugins/caching'
import config from './plugins/config'
import connectionLimits from './plugins/connection-limits'
import contentTypes from './plugins/content-types'
import dataPlane from './plugins/data-plane'
import docs from './plugins/docs'
import errors from './plugins/errors'
import lifecycle from './plugins/lifecycle'
import loadShedding from './plugins/load-shedding'
import metrics from './plugins/metrics'
import models from './plugins/models'
import quota from './plugins/quota'
import rateLimit from './plugins/rate-limit'
import redis from './plugins/redis'
import repositoryPoll from './plugins/repository-poll'
import requestLog from './plugins/request-log'
import security from './plugins/security'
import tracing from './plugins/tracing'

export interface AppOptions {
  config: AppConfig
}

async function app (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  // What the pipeline stands on.
  await fastify.register(config, opts)
  // Before the routes and the other hooks: the request's span (when tracing is on) covers them all.
  await fastify.register(tracing)
  await fastify.register(metrics)
  await fastify.register(redis)
  await fastify.register(lifecycle)
  await fastify.register(models)
  await fastify.register(repositoryPoll)

  // The request pipeline. Each plugin adds its onRequest hook here, and
  // Fastify runs them in this order for every request, unknown URLs
  // included; the first to answer ends the request. A security rule depends
  // on the order: nothing is counted, cached or served before auth has run,
  // and no cached answer skips the quota (test/app.test.ts).
  await fastify.register(requestLog) // 1. the request id (x-request-id), the request's facts
  await fastify.register(security) // 2. security headers, on every answer that follows
  await fastify.register(connectionLimits) // (connections per address; Connection: close on early answers)
  await fastify.register(errors) // (the error shape; unknown URLs 404 before their body is read)
  await fastify.register(contentTypes) // 3. a Host header; the body parsers
  await fastify.register(loadShedding) // 4. 503 while the event loop lags, before any work
  await fastify.register(rateLimit) // 5. the client address must be one (X-Forwarded-For); the limiter's store
  await fastify.register(auth) // 6. the bearer token and the route's scope: 401, 403, 429 for failed attempts
  await fastify.register(quota) // 7. the identity's quota: 429
  await fastify.register(caching) // 8. metadata ETags: 304; the prediction cache's store
  // Then the body is parsed and validated, and the route makes one call
  // into the data plane (its prediction cache lookup, batcher and pool).
  await fastify.register(dataPlane)
  await fastify.register(docs)
  // The second transport of the data plane, with the pipeline's plugins as
  // its own (listening is server.ts's). Loaded only when it is on: with
  // GRPC_PORT=0 none of its modules (grpc-js, the protos) is loaded at all.
  if (opts.config.grpcPort !== 0) {
    const grpc = (require('./plugins/grpc') as typeof import('./plugins/grpc')).default
    await fastify.register(grpc)
  }

  await fastify.register(AutoLoad, {
    dir: join(__dirname, 'routes'),
    // A folder's autohooks file sets up its scope (routes/v2: the protocol's
    // error shape and body parsing), for its subfolders too.
    autoHooks: true,
    cascadeHooks: true,
    options: opts
  })
}

// Not encapsulated: server.ts reads the decorators (lifecycle) from outside.
export default fp(app, { name: 'onnx-serve' })
