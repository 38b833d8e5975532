import { BlockList, isIPv4, type Socket } from 'node:net'
import fp from 'fastify-plugin'
import { bodyPending } from '../http/body-pending'
import { addressKey } from '../lib/auth/client-address'

/** The proxies TRUST_PROXY lists: each of their connections carries many clients. */
function trustedProxies (entries: string[]): BlockList {
  const list = new BlockList()
  for (const entry of entries) {
    const [address, prefix] = entry.split('/')
    const type = isIPv4(address) ? 'ipv4' : 'ipv6'
    if (prefix === undefined) list.addAddress(address, type)
    else list.addSubnet(address, Number(prefix), type)
  }
  return list
}

/**
 * What one client may hold on to (timeouts are in app.ts's server options):
 *
 * - At most MAX_CONNECTIONS open connections in all (default: most of the
 *   process's open-file limit); Node closes the ones beyond at once.
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

  // Every client together: past the process's open-file limit it could not
  // open a model file, a worker or even read its own memory use, and stops.
  fastify.server.maxConnections = fastify.config.maxConnections

  const { maxConnectionsPerAddress: max, trustProxy } = fastify.config
  if (max > 0 && trustProxy === true) fastify.log.info('TRUST_PROXY=true: MAX_CONNECTIONS_PER_ADDRESS is not applied (list the proxies to keep it for everyone else)')
  if (max === 0 || trustProxy === true) return
  const trusted = trustProxy === false ? undefined : trustedProxies(trustProxy)
  const isTrusted = (address: string): boolean => trusted?.check(address, isIPv4(address) ? 'ipv4' : 'ipv6') === true
  const open = new Map<string, number>()
  fastify.server.on('connection', (socket: Socket) => {
    // A socket already gone has no address; Node cleans it up.
    const address = socket.remoteAddress ?? ''
    const key = addressKey(address)
    if (key === undefined || isTrusted(address)) return
    const count = (open.get(key) ?? 0) + 1
    if (count > max) {
      socket.destroy()
      return
    }
    open.set(key, count)
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1
      if (left === 0) open.delete(key)
      else open.set(key, left)
    })
  })
}, { name: 'connection-limits', dependencies: ['config'] })
