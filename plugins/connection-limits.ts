import type { Socket } from 'node:net'
import fp from 'fastify-plugin'
import { bodyPending } from '../http/body-pending'
import { ConnectionLimiter } from '../lib/connections/connection-limiter'

declare module 'fastify' {
  interface FastifyInstance {
    /** The connection limits of every server of the process (HTTP here, gRPC in plugins/grpc). */
    connectionLimiter: ConnectionLimiter
  }
}

/**
 * What one client may hold on to (timeouts are in app.ts's server options):
 *
 * - At most MAX_CONNECTIONS open connections in all, HTTP and gRPC
 *   together (default: most of the process's open-file limit); the ones
 *   beyond are closed at once.
 * - At most MAX_CONNECTIONS_PER_ADDRESS open connections per client address
 *   (IPv6 by /64, lib/auth/client-address); one more is destroyed at once, before
 *   it costs a request. Connections from the proxies TRUST_PROXY lists are
 *   not counted; with TRUST_PROXY=true any address may be a proxy, so there
 *   is no per-address limit at all. Counted per process (WORKERS multiplies it).
 * - An answer sent before the request's body was received (a 401, 404, 413,
 *   429, 503…) says `Connection: close`, and Node closes the connection after
 *   it instead of draining the rest of the upload.
 */
export default fp(async (fastify) => {
  // A callback hook: it runs on every response, and needs no promise.
  fastify.addHook('onSend', (request, reply, payload, done) => {
    if (bodyPending(request.raw)) reply.header('connection', 'close')
    done(null, payload)
  })

  const { maxConnections: max, maxConnectionsPerAddress: maxPerAddress, trustProxy } = fastify.config
  if (maxPerAddress > 0 && trustProxy === true) fastify.log.info('TRUST_PROXY=true: MAX_CONNECTIONS_PER_ADDRESS is not applied (list the proxies to keep it for everyone else)')
  const limiter = new ConnectionLimiter({ max, maxPerAddress, exempt: trustProxy })
  fastify.decorate('connectionLimiter', limiter)
  // Node's own check comes before the 'connection' event, the cheapest refusal;
  // the limiter counts HTTP's connections and gRPC's together.
  fastify.server.maxConnections = max
  fastify.server.on('connection', (socket: Socket) => { limiter.admit(socket) })
}, { name: 'connection-limits', dependencies: ['config'] })
