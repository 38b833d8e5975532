import t from 'tap'
import { Redis } from 'ioredis'
import { ForgivingCacheClient, MemoryCacheClient, RedisCacheClient, type CacheClient } from '../../../lib/cache/cache-store'
import { SHARED_REDIS_URL, sharedRedisSkip } from '../../helpers/redis'

const key = (id: string): { id: string, segment: string } => ({ id, segment: 'test' })

t.test('memory: values come back with when they were stored and how long they have left', async t => {
  const client = new MemoryCacheClient({ maxEntries: 10, maxBytes: 10_000 })
  const before = Date.now()
  await client.set(key('a'), Buffer.from('abc'), 60_000)
  await client.set(key('b'), true, 60_000)
  const a = await client.get(key('a'))
  t.strictSame(a?.item, Buffer.from('abc'))
  t.ok(a !== null && a.stored >= before && a.ttl > 59_000 && a.ttl <= 60_000, 'stored and ttl')
  t.equal((await client.get(key('b')))?.item, true)
  t.equal(await client.has(key('a')), true)
  t.equal(await client.get({ id: 'a', segment: 'other' }), null, 'segments are apart')
  await client.delete(key('a'))
  t.equal(await client.get(key('a')), null)
})

t.test('memory: bounded in entries, in bytes and in time', async t => {
  const client = new MemoryCacheClient({ maxEntries: 3, maxBytes: 1000 })
  for (const id of ['1', '2', '3', '4']) await client.set(key(id), Buffer.alloc(10), 60_000)
  t.equal(client.size, 3, 'maxEntries')
  t.equal(await client.get(key('1')), null, 'the least recently used went first')

  await client.set(key('big'), Buffer.alloc(600), 60_000)
  await client.set(key('big2'), Buffer.alloc(600), 60_000)
  t.ok(client.bytes <= 1000, `maxBytes (${client.bytes})`)
  t.equal(await client.get(key('big')), null, 'pushed out by bytes')
  await client.set(key('huge'), Buffer.alloc(2000), 60_000)
  t.equal(await client.get(key('huge')), null, 'a value above maxBytes is not kept')

  await client.set(key('short'), Buffer.alloc(1), 20)
  await new Promise(resolve => setTimeout(resolve, 40))
  t.equal(await client.get(key('short')), null, 'expired')
})

t.test('memory: deletePrefix drops one version\'s entries', async t => {
  const client = new MemoryCacheClient({ maxEntries: 10, maxBytes: 10_000 })
  for (const id of ['m/1/a', 'm/1/b', 'm/10/a', 'm/2/a']) await client.set(key(id), true, 60_000)
  t.equal(await client.deletePrefix('test', 'm/1/'), 2)
  t.equal(await client.has(key('m/10/a')), true, 'm/10 is not m/1')
  t.equal(await client.has(key('m/2/a')), true)
})

t.test('forgiving: a failing store answers misses, is reported, then left alone for retryMs', async t => {
  let calls = 0
  let failing = true
  const memory = new MemoryCacheClient({ maxEntries: 10, maxBytes: 10_000 })
  const fail = async (): Promise<never> => {
    calls++
    throw new Error('down')
  }
  const flaky: CacheClient = {
    await: true,
    get: async key => failing ? await fail() : await memory.get(key),
    set: async (key, value, ttl) => failing ? await fail() : await memory.set(key, value, ttl),
    has: async key => failing ? await fail() : await memory.has(key),
    delete: async key => failing ? await fail() : await memory.delete(key),
    deletePrefix: async (segment, prefix) => failing ? await fail() : await memory.deletePrefix(segment, prefix)
  }
  const errors: unknown[] = []
  const client = new ForgivingCacheClient(flaky, 50, error => errors.push(error))
  t.equal(await client.get(key('a')), null, 'get: a miss')
  t.equal(calls, 1)
  await client.set(key('a'), true, 1000)
  t.equal(await client.has(key('a')), false)
  await client.delete(key('a'))
  t.equal(calls, 1, 'within retryMs the store is not called')
  t.equal(errors.length, 1, 'the failure was reported once')
  t.equal(await client.deletePrefix('test', 'm/'), 0, 'deletePrefix is always tried')
  t.equal(calls, 2)
  await new Promise(resolve => setTimeout(resolve, 60))
  failing = false
  await client.set(key('a'), true, 1000)
  t.equal((await client.get(key('a')))?.item, true, 'used again after retryMs')
  t.equal(await client.has(key('a')), true)
  await client.delete(key('a'))
  t.equal(await client.has(key('a')), false)
})

t.test('redis: the same protocol in a shared Redis, with expiry in Redis', { skip: sharedRedisSkip }, async t => {
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  const namespace = `onnx-serve-test-${process.pid}-${Date.now()}:`
  const client = new RedisCacheClient(redis, namespace)
  await client.set(key('m/1/a'), Buffer.from([0, 1, 2, 255]), 60_000)
  await client.set(key('m/1/[b]'), { etag: true }, 60_000)
  await client.set(key('m/2/a'), true, 100)
  const a = await client.get(key('m/1/a'))
  t.strictSame(a?.item, Buffer.from([0, 1, 2, 255]), 'bytes')
  t.ok(a !== null && a.ttl > 59_000 && a.ttl <= 60_000, `ttl ${a?.ttl}`)
  t.strictSame((await client.get(key('m/1/[b]')))?.item, { etag: true }, 'JSON values')
  const pttl = await redis.pttl(`${namespace}test:m/1/a`)
  t.ok(pttl > 59_000 && pttl <= 60_000, `expires in Redis (pttl ${pttl})`)
  t.equal(await client.has(key('m/1/a')), true)
  t.equal(await client.deletePrefix('test', 'm/1/'), 2, 'SCAN and UNLINK the version, glob characters in the id included')
  t.equal(await client.get(key('m/1/a')), null)
  t.equal(await client.has(key('m/2/a')), true, 'another version stays')
  await new Promise(resolve => setTimeout(resolve, 150))
  t.equal(await client.get(key('m/2/a')), null, 'expired by Redis')
  await redis.set(`${namespace}test:junk`, 'x')
  t.equal(await client.get(key('junk')), null, 'a value not written by the client is nothing')
  await client.delete(key('junk'))
  t.equal(await redis.exists(`${namespace}test:junk`), 0)
})
