// WORKERS=2 without Redis: the primary keeps the counters, so an identity has
// one quota (and an address one failed-authentication limit) for the whole
// process group, not one per process. Real processes, fresh connections, so
// the cluster spreads the requests over both.

import { request } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { bundledRepository } from './helpers/build-app'
import { startServer, waitReady, type ServerProcess } from './helpers/server-process'
import { setosa, sign } from './helpers/tokens'

const secret = 'cluster-quota-test-secret-'.padEnd(40, 'x')

async function predict (url: string, authorization: string): Promise<number> {
  const body = JSON.stringify({ input_data: setosa })
  return await new Promise((resolve, reject) => {
    const req = request(`${url}/predict`, {
      method: 'POST',
      agent: false,
      headers: { connection: 'close', authorization, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
    }, res => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)) })
    req.on('error', reject)
    req.end(body)
  })
}

/** Readiness on a fresh connection: the cluster hands each to one process or the other. */
async function ready (url: string): Promise<boolean> {
  return await new Promise(resolve => {
    request(`${url}/health/ready`, { agent: false, headers: { connection: 'close' } }, res => { res.resume(); resolve(res.statusCode === 200) })
      .on('error', () => resolve(false)).end()
  })
}

/** Both processes ready: waitReady sees the first one only. */
async function bothReady (url: string): Promise<void> {
  for (let inARow = 0; inARow < 10;) {
    inARow = await ready(url) ? inARow + 1 : 0
    if (inARow === 0) await sleep(50)
  }
}

async function statuses (url: string, authorization: string, count: number): Promise<Record<number, number>> {
  const tally: Record<number, number> = {}
  for (let i = 0; i < count; i++) {
    const status = await predict(url, authorization)
    tally[status] = (tally[status] ?? 0) + 1
  }
  return tally
}

/**
 * The processes that logged a completed request with `status`. Logs are
 * flushed once a second, later on a loaded machine: read them until both
 * processes show or 5 s have passed.
 */
async function servedBy (server: ServerProcess, status: number): Promise<Set<unknown>> {
  const pids = (): Set<unknown> => new Set(server.logs.filter(line => line.msg === 'request completed' && (line.res as { statusCode?: number } | undefined)?.statusCode === status).map(line => line.pid))
  await sleep(1500)
  for (const until = Date.now() + 3500; pids().size < 2 && Date.now() < until;) await sleep(100)
  return pids()
}

t.test('one quota per identity and one failed-authentication limit per address across WORKERS=2', async t => {
  const server = await startServer(t, {
    WORKERS: '2', JWT_SECRET: secret, RATE_LIMIT_MAX: '10', AUTH_FAILURE_LIMIT: '5', MODEL_REPOSITORY: bundledRepository, INFERENCE_THREADS: '1'
  })
  await waitReady(server.url)
  await bothReady(server.url)

  const alice = `Bearer ${sign(secret, 'HS256', { sub: 'alice', scope: 'predict' })}`
  t.strictSame(await statuses(server.url, alice, 30), { 200: 10, 429: 20 }, 'RATE_LIMIT_MAX=10 lets 10 of 30 through, not 10 per process')
  t.equal((await servedBy(server, 429)).size, 2, 'both processes refused some')

  const bob = `Bearer ${sign(secret, 'HS256', { sub: 'bob', scope: 'predict' })}`
  t.strictSame(await statuses(server.url, bob, 3), { 200: 3 }, 'another identity has its own quota')

  const forged = `Bearer ${sign('not-the-secret'.padEnd(40, 'y'), 'HS256', { sub: 'mallory', scope: 'predict' })}`
  t.strictSame(await statuses(server.url, forged, 12), { 401: 5, 429: 7 }, 'AUTH_FAILURE_LIMIT=5 counts failures in every process together')
  t.equal((await servedBy(server, 401)).size, 2, 'both processes refused some tokens')
})
