// Rate-limit quotas shared through Redis (plugins/rate-limit.ts, plugins/redis.ts),
// and failing open when Redis goes away.
//
// Needs a Redis on 127.0.0.1:6379 and the redis-server binary (the second
// test starts and kills a Redis of its own). Without them the tests are
// skipped with how to run them; in CI (CI=true) they fail instead.

import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import t from 'tap'
import { Redis } from 'ioredis'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildApp, devToken } from '../helpers/build-app'
import { freePort, ownRedisSkip, redisReady, sharedRedisSkip, startRedis, stopRedis, waitFor } from '../helpers/redis'
import { assertError } from '../helpers/responses'

const SHARED_URL = 'redis://127.0.0.1:6379'
const NAMESPACE = 'onnx-serve-rate-limit:'
const IRIS_ROW = { input_data: [5.1, 3.5, 1.4, 0.2] }

// Subjects unique to this run, so counters of earlier runs never interfere.
const run = randomUUID().slice(0, 8)
const subject = (name: string): string => `redis-test-${name}-${run}`

/** A client of the test's own, to look at the keys; with `cleanUp`, this run's keys are deleted when the test ends. */
function inspector (t: tap.Test, port: number, cleanUp = false): Redis {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 })
  t.teardown(async () => {
    try {
      if (cleanUp) await deleteRunKeys(client)
    } finally {
      client.disconnect()
    }
  })
  return client
}

async function deleteRunKeys (client: Redis): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${NAMESPACE}*${run}*`, 'COUNT', 1000)
    if (keys.length > 0) await client.del(...keys)
    cursor = next
  } while (cursor !== '0')
}

function predict (app: FastifyInstance, sub: string): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: '/predict',
    headers: { authorization: `Bearer ${devToken({ sub, scope: 'predict' })}` },
    payload: IRIS_ROW
  })
}

/** `count` predictions with Redis in trouble: each served (200, a real prediction) within 1 s. */
async function servedDespiteRedis (t: tap.Test, app: FastifyInstance, sub: string, count: number, how: string): Promise<void> {
  const timings: number[] = []
  for (let i = 1; i <= count; i++) {
    const start = performance.now()
    const res = await predict(app, sub)
    const ms = performance.now() - start
    timings.push(ms)
    t.equal(res.statusCode, 200, `request ${i} with Redis ${how} is served`)
    t.strictSame(res.json(), { prediction: ['setosa'] }, `request ${i}: a real prediction`)
    t.ok(ms < 1000, `request ${i} took ${ms.toFixed(1)} ms (< 1 s)`)
  }
  t.comment(`with Redis ${how}: requests took ${timings.map(ms => ms.toFixed(1)).join(', ')} ms`)
}

async function storeUnavailableCount (app: FastifyInstance): Promise<number> {
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  const match = /^onnx_serve_rate_limit_store_unavailable_total (\d+)$/m.exec(res.body)
  if (match === null) throw new Error('onnx_serve_rate_limit_store_unavailable_total is missing from /metrics')
  return Number(match[1])
}

t.test('two app instances on one Redis share one quota', { skip: sharedRedisSkip }, async t => {
  const client = inspector(t, 6379, true)
  const env = { REDIS_URL: SHARED_URL, RATE_LIMIT_MAX: '4' }
  const a = await buildApp(t, env, { token: false })
  const b = await buildApp(t, env, { token: false })
  await redisReady(a)
  await redisReady(b)
  const sub = subject('shared')

  const served = [await predict(a, sub), await predict(a, sub), await predict(b, sub), await predict(b, sub)]
  served.forEach((res, i) => {
    t.equal(res.statusCode, 200, `request ${i + 1} (app ${i < 2 ? 'A' : 'B'}) is served`)
    t.equal(res.headers['x-ratelimit-limit'], '4')
    t.equal(res.headers['x-ratelimit-remaining'], String(3 - i), `request ${i + 1}: one count across both apps`)
  })
  for (const [name, app] of [['A', a], ['B', b]] as const) {
    const res = await predict(app, sub)
    assertError(t, res, { statusCode: 429, code: 'ONNX_SERVE_RATE_LIMITED', message: /^rate limit of 4 requests per 60 s exceeded; retry in / }, `app ${name} after 4`)
    t.match(res.headers['retry-after'], /^[1-9]\d*$/, `app ${name}: retry-after`)
  }

  // The counter lives in Redis under the plugin's namespace, with the window as its expiry.
  const key = `${NAMESPACE}sub:${sub}`
  t.equal(await client.get(key), '6', 'one counter in Redis for both apps (4 served + 2 refused)')
  const ttl = await client.pttl(key)
  t.ok(ttl > 0 && ttl <= 60_000, `the counter expires with the window (pttl ${ttl})`)

  // Another subject is untouched by it.
  const other = await predict(b, subject('other'))
  t.equal(other.statusCode, 200)
  t.equal(other.headers['x-ratelimit-remaining'], '3')
})

t.test('failed authentications are counted in Redis under a key that names them', { skip: sharedRedisSkip }, async t => {
  const client = inspector(t, 6379, true)
  const app = await buildApp(t, { REDIS_URL: SHARED_URL }, { token: false })
  await redisReady(app)
  // A documentation address unique to this run's counter.
  const address = `2001:db8:${parseInt(run.slice(0, 4), 16).toString(16)}:1::7`
  const res = await app.inject({ method: 'GET', url: '/v1/models', remoteAddress: address, headers: { authorization: 'Bearer nope' } })
  t.equal(res.statusCode, 401)
  const key = `${NAMESPACE}auth-failure:2001:db8:${parseInt(run.slice(0, 4), 16).toString(16)}:1::/64`
  t.equal(await client.get(key), '1', `${key}, counted by the address's /64`)
  t.strictSame(await client.keys(`${NAMESPACE}undefined*`), [], 'no key named after a route that is not there')
  await client.del(key)
})

t.test('when Redis stops, requests are still served (fail open), counted in the metric, and readiness stays 200 and reports it', { skip: ownRedisSkip }, async t => {
  const port = await freePort()
  let redis = await startRedis(t, port)
  const client = inspector(t, port)
  const app = await buildApp(t, { REDIS_URL: `redis://127.0.0.1:${port}`, RATE_LIMIT_MAX: '100' }, { token: false })
  await redisReady(app)
  const sub = subject('fail-open')

  const first = await predict(app, sub)
  t.equal(first.statusCode, 200)
  t.equal(first.headers['x-ratelimit-remaining'], '99', 'counted')
  t.equal(await client.get(`${NAMESPACE}sub:${sub}`), '1', 'in this Redis')
  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 200, 'ready while Redis is up')
  t.equal(ready.json<{ redis: string }>().redis, 'ready')
  const before = await storeUnavailableCount(app)
  t.equal(before, 0, 'nothing let through unchecked while Redis is up')
  client.disconnect()

  await stopRedis(redis)
  await servedDespiteRedis(t, app, sub, 5, 'down')

  const after = await storeUnavailableCount(app)
  t.ok(after >= before + 5, `onnx_serve_rate_limit_store_unavailable_total rose from ${before} to ${after}`)

  // A shared dependency never takes the pod out of rotation: reported, not a reason for 503.
  const down = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(down.statusCode, 200, 'still ready while the configured Redis is down')
  const body = down.json<{ status: string, redis: string }>()
  t.equal(body.status, 'ok')
  t.match(body.redis, /^(connecting|reconnecting|close|end)$/, `Redis reported: ${body.redis}`)
  t.match((await app.inject({ method: 'GET', url: '/metrics' })).body, /^onnx_serve_redis_up 0$/m, 'and in onnx_serve_redis_up')

  // Redis comes back on the same port: the client reconnects.
  redis = await startRedis(t, port)
  const waited = await waitFor('the client to reconnect', async () =>
    (await app.inject({ method: 'GET', url: '/health/ready' })).json<{ redis: string }>().redis === 'ready')
  t.pass(`reconnected ${waited.toFixed(0)} ms after Redis answered`)
  t.ok(waited < 5000, 'within the client\'s reconnection delay (at most 2 s between attempts)')
  t.match((await app.inject({ method: 'GET', url: '/metrics' })).body, /^onnx_serve_redis_up 1$/m)
  const counted = await predict(app, sub)
  t.equal(counted.statusCode, 200)
  t.equal(counted.headers['x-ratelimit-remaining'], '99', 'counted again, in the new (empty) Redis')
  const steady = await storeUnavailableCount(app)
  await predict(app, sub)
  t.equal(await storeUnavailableCount(app), steady, 'the metric stops rising once Redis is back')
})

t.test('a Redis that hangs (connection open, no replies): requests are served after the command timeout and counted', { skip: ownRedisSkip }, async t => {
  const port = await freePort()
  const redis = await startRedis(t, port)
  const app = await buildApp(t, { REDIS_URL: `redis://127.0.0.1:${port}`, RATE_LIMIT_MAX: '100' }, { token: false })
  await redisReady(app)
  const sub = subject('hang')
  t.equal((await predict(app, sub)).headers['x-ratelimit-remaining'], '99', 'counted while Redis answers')
  // A frozen Redis, as behind a network partition: the socket stays open, nothing comes back.
  redis.kill('SIGSTOP')
  t.teardown(() => { redis.kill('SIGCONT') })
  const before = await storeUnavailableCount(app)
  await servedDespiteRedis(t, app, sub, 3, 'hung')
  t.comment('the client\'s commandTimeout is 200 ms')
  t.equal(app.redis?.status, 'ready', 'the client cannot tell a hung Redis from a slow one')
  t.equal(await storeUnavailableCount(app), before + 3, 'each request let through unchecked is counted all the same')
})

t.test('a REDIS_URL on a closed port: the app still starts and serves', async t => {
  const port = await freePort()
  const start = performance.now()
  const app = await buildApp(t, { REDIS_URL: `redis://127.0.0.1:${port}`, RATE_LIMIT_MAX: '100' }, { token: false })
  const startMs = performance.now() - start
  t.comment(`started in ${startMs.toFixed(0)} ms with Redis unreachable`)
  t.ok(startMs < 10_000, 'starting does not wait on Redis')
  t.not(app.redis?.status, 'ready', 'the client is not connected')
  await servedDespiteRedis(t, app, subject('closed-port'), 3, 'on a closed port')
  t.ok(await storeUnavailableCount(app) >= 3, 'each was counted as let through unchecked')
  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 200, 'ready: Redis is reported, never a reason for 503')
  t.not(ready.json<{ redis: string }>().redis, 'ready')
})
