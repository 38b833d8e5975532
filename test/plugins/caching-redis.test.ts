// The prediction cache and metadata ETags in Redis (REDIS_URL): shared by
// every app on it, and never a 5xx or a long wait when Redis stops or hangs.
//
// Needs the Redis on 127.0.0.1:6379 and the redis-server binary (the outage
// tests start, stop and freeze a Redis of their own); see test/helpers/redis.ts.

import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../helpers/build-app'
import { cachedIrisRepository, countRuns, freshRow, predictRow } from '../helpers/cached-repository'
import { SHARED_REDIS_URL, freePort, ownRedisSkip, redisReady, sharedRedisSkip, startRedis, stopRedis, waitFor } from '../helpers/redis'
import { parse, valueOf } from '../helpers/metrics'

async function storeUnavailable (app: FastifyInstance): Promise<number> {
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
  const match = /^onnx_serve_cache_store_unavailable_total (\d+)$/m.exec(metrics)
  if (match === null) throw new Error('onnx_serve_cache_store_unavailable_total is missing from /metrics')
  return Number(match[1])
}

/** Run `request`, adding its duration to `timings`. */
async function timed<T> (timings: number[], request: () => Promise<T>): Promise<T> {
  const start = performance.now()
  const result = await request()
  timings.push(performance.now() - start)
  return result
}

/**
 * Predictions and a conditional metadata GET with Redis in trouble: each 200
 * within 1 s (at most the rate limit's and the cache's command timeouts, 200 ms each).
 */
async function servedDespiteRedis (t: tap.Test, app: FastifyInstance, how: string): Promise<void> {
  const timings: number[] = []
  const row = freshRow()
  for (let i = 1; i <= 3; i++) {
    const res = await timed(timings, () => predictRow(app, row))
    t.equal(res.statusCode, 200, `prediction ${i} with Redis ${how}: served`)
    t.equal(res.headers['x-cache'], 'MISS', `prediction ${i}: a miss (nothing can be looked up)`)
    t.match(res.json(), { prediction: [/^(setosa|versicolor|virginica)$/] })
  }
  const metadata = await timed(timings, () => app.inject({ method: 'GET', url: '/v2/models/iris' }))
  const etag = metadata.headers.etag as string
  const conditional = await timed(timings, () => app.inject({ method: 'GET', url: '/v2/models/iris', headers: { 'if-none-match': etag } }))
  t.equal(metadata.statusCode, 200, `metadata with Redis ${how}: served`)
  t.equal(conditional.statusCode, 304, 'a conditional GET still gets its 304: ETags are this process\'s own, never in Redis')
  t.comment(`with Redis ${how}: ${timings.map(ms => ms.toFixed(1)).join(', ')} ms`)
  t.ok(Math.max(...timings) < 1000, 'none waited a second')
}

t.test('two polled pods on one Redis: a replaced model file never answers from its old entries', { skip: sharedRedisSkip }, async t => {
  const repository = cachedIrisRepository(t)
  const env = { REDIS_URL: SHARED_REDIS_URL, MODEL_REPOSITORY: repository, DEFAULT_MODEL: 'iris', MODEL_CONTROL_MODE: 'poll', REPOSITORY_POLL_SECS: '1' }
  const a = await buildApp(t, env)
  const b = await buildApp(t, env)
  await redisReady(a)
  await redisReady(b)
  const row = freshRow()
  t.equal((await predictRow(a, row)).headers['x-cache'], 'MISS', 'computed by A')
  await new Promise(resolve => setTimeout(resolve, 50))
  t.equal((await predictRow(b, row)).headers['x-cache'], 'HIT', 'found by B')

  // New bytes for version 1 (an unknown protobuf field appended: the same
  // graph, another file), written aside and renamed into place.
  const file = join(repository, 'iris', '1', 'model.onnx')
  writeFileSync(`${file}.new`, Buffer.concat([readFileSync(file), Buffer.from([0xc0, 0x3e, 0x01])]))
  renameSync(`${file}.new`, file)
  const reloads = async (app: FastifyInstance): Promise<number> => valueOf(parse((await app.inject({ url: '/metrics' })).body), 'onnx_serve_model_loads_total', { model: 'iris', outcome: 'ready' })
  await waitFor('both pods to load the new file', async () => await reloads(a) === 2 && await reloads(b) === 2, 15_000)

  const after = await predictRow(b, row)
  t.equal(after.statusCode, 200)
  t.equal(after.headers['x-cache'], 'MISS', 'the entry of the file before is not served for the new one')
  await new Promise(resolve => setTimeout(resolve, 50))
  t.equal((await predictRow(a, row)).headers['x-cache'], 'HIT', 'the new file\'s entries are shared as before')
})

t.test('two apps on one Redis share the prediction cache', { skip: sharedRedisSkip }, async t => {
  const repository = cachedIrisRepository(t)
  const env = { REDIS_URL: SHARED_REDIS_URL, MODEL_REPOSITORY: repository, DEFAULT_MODEL: 'iris' }
  const a = await buildApp(t, env)
  const b = await buildApp(t, env)
  await redisReady(a)
  await redisReady(b)
  const runsA = countRuns(a)
  const runsB = countRuns(b)
  const row = freshRow()

  const miss = await predictRow(a, row)
  t.equal(miss.headers['x-cache'], 'MISS', 'computed by A')
  // A stores in the background: give it a moment to reach Redis.
  await new Promise(resolve => setTimeout(resolve, 50))
  const hit = await predictRow(b, row)
  t.equal(hit.headers['x-cache'], 'HIT', 'found by B')
  t.strictSame(hit.json(), miss.json())
  const v2 = await b.inject({ method: 'POST', url: '/v2/models/iris/infer', payload: { inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: row }] } })
  t.equal(v2.headers['x-cache'], 'HIT', 'and through another API')
  t.equal(runsA() + runsB(), 1, 'one run on two apps')

  // ETags are each process's own: another pod answers the body, never a stale 304.
  const etag = (await a.inject({ method: 'GET', url: '/v2/models/iris' })).headers.etag as string
  t.equal((await a.inject({ method: 'GET', url: '/v2/models/iris', headers: { 'if-none-match': etag } })).statusCode, 304)
  t.equal((await b.inject({ method: 'GET', url: '/v2/models/iris', headers: { 'if-none-match': etag } })).statusCode, 200)

  // A reload on A drops the version's entries from the shared store.
  t.equal((await a.inject({ method: 'POST', url: '/v2/repository/models/iris/load' })).statusCode, 200)
  await new Promise(resolve => setTimeout(resolve, 50))
  t.equal((await predictRow(b, row)).headers['x-cache'], 'MISS', 'B misses after A reloaded')
})

t.test('Redis stopped: predictions are served as misses, counted, never a 5xx', { skip: ownRedisSkip }, async t => {
  const port = await freePort()
  const redis = await startRedis(t, port)
  const app = await buildApp(t, { REDIS_URL: `redis://127.0.0.1:${port}`, MODEL_REPOSITORY: cachedIrisRepository(t), DEFAULT_MODEL: 'iris' })
  await redisReady(app)
  const row = freshRow()
  await predictRow(app, row)
  await new Promise(resolve => setTimeout(resolve, 50))
  t.equal((await predictRow(app, row)).headers['x-cache'], 'HIT', 'cached while Redis is up')
  const before = await storeUnavailable(app)
  t.equal(before, 0)

  await stopRedis(redis)
  await servedDespiteRedis(t, app, 'stopped')
  t.ok(await storeUnavailable(app) > before, 'onnx_serve_cache_store_unavailable_total rose')
})

t.test('Redis hung (connection open, no replies): served within the command timeout', { skip: ownRedisSkip }, async t => {
  const port = await freePort()
  const redis = await startRedis(t, port)
  const app = await buildApp(t, { REDIS_URL: `redis://127.0.0.1:${port}`, MODEL_REPOSITORY: cachedIrisRepository(t), DEFAULT_MODEL: 'iris' })
  await redisReady(app)
  redis.kill('SIGSTOP')
  t.teardown(() => { redis.kill('SIGCONT') })
  const before = await storeUnavailable(app)
  await servedDespiteRedis(t, app, 'hung')
  t.ok(await storeUnavailable(app) > before, 'counted')
})
