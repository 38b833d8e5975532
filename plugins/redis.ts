import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'

declare module 'fastify' {
  interface FastifyInstance {
    /** The shared store of every pod, when REDIS_URL is set. */
    redis: Redis | null
  }
}

/**
 * A Redis client for state that pods share (rate-limit counters). It never
 * holds a request up: commands fail at once while disconnected (no offline
 * queue) and after one retry, and the client keeps reconnecting in the background.
 */
export default fp(async (fastify) => {
  const url = fastify.config.redisUrl
  if (url === undefined) {
    fastify.decorate('redis', null)
    return
  }
  // Loaded only when configured: the client's code is a few MB of heap that a
  // single pod, the default, would carry for nothing.
  const { Redis: RedisClient } = await import('ioredis')
  const redis = new RedisClient(url, {
    connectTimeout: 1000,
    commandTimeout: 200,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: attempt => Math.min(attempt * 200, 2000)
  })
  let reported = false
  redis.on('error', (error: Error) => {
    // Reconnection repeats the same error; log the first of each outage.
    if (!reported) fastify.log.warn({ err: error }, 'redis unreachable; shared state is unavailable until it returns')
    reported = true
  })
  redis.on('ready', () => {
    if (reported) fastify.log.info('redis reachable again')
    reported = false
  })
  fastify.decorate('redis', redis)
  fastify.addHook('onClose', async () => {
    redis.disconnect()
  })
}, { name: 'redis', dependencies: ['config'] })
