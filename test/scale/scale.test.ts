// npm run test:scale: three server processes on loopback ports behind
// HAProxy (Debian's package), which health-checks /health/ready, sharing a
// Redis of the test's own. Under continuous load from a client that counts
// every answer: one rate-limit quota across the pods (exact counts), a
// prediction cached by one pod is a HIT through another, Redis stopped for a
// few seconds costs no request, a pod killed with SIGKILL costs at most the
// requests it held, and a rolling restart (SIGTERM each pod in turn, restart
// it, wait for readiness) costs none.
//
// Needs haproxy and redis-server (apt-get install haproxy redis-server);
// without them the test is skipped with that command, and with CI=true it fails.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Agent, request } from 'undici'
import { devToken } from '../helpers/build-app'
import { cachedIrisRepository, freshRow } from '../helpers/cached-repository'
import { freePort, startRedis, stopRedis, waitFor } from '../helpers/redis'
import { startServer, waitReady, type ServerProcess } from '../helpers/server-process'

const POD_COUNT = 3
const QUOTA = 30
const CONCURRENCY = 8
/** Each loop's pause between requests: steady traffic (a few hundred a second), not a saturated machine. */
const PAUSE_MS = 10
/** Subjects the load rotates through, so none reaches the quota. */
const LOAD_SUBJECTS = 2000

function missing (): false | string {
  const absent = ['haproxy', 'redis-server'].filter(binary => spawnSync(binary, ['-v']).error !== undefined)
  if (absent.length === 0) return false
  const why = `${absent.join(' and ')} missing; install with: apt-get install ${absent.join(' ')}`
  if (process.env.CI === 'true') t.fail(`${why} (CI=true: the scale test must run)`)
  return why
}

interface Tally { ok: number, statuses: Record<string, number>, errors: string[] }

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

/** Requests with rotating tokens through `url`, CONCURRENCY at a time, every answer counted under the current phase. */
function startLoad (url: string, run: string): { phase: (name: string) => void, tallies: Map<string, Tally>, stop: () => Promise<void> } {
  const tokens = Array.from({ length: LOAD_SUBJECTS }, (_, i) => `Bearer ${devToken({ sub: `load-${run}-${i}`, scope: 'predict' })}`)
  const tallies = new Map<string, Tally>()
  let current: Tally = { ok: 0, statuses: {}, errors: [] }
  tallies.set('warm-up', current)
  const dispatcher = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 2000 })
  const state = { stopping: false }
  let sent = 0
  const loop = async (): Promise<void> => {
    while (!state.stopping) {
      const tally = current
      const authorization = tokens[sent++ % tokens.length]
      try {
        const res = await request(`${url}/predict`, {
          method: 'POST',
          dispatcher,
          headers: { authorization, 'content-type': 'application/json' },
          body: JSON.stringify({ input_data: [5.1, 3.5, 1.4, 0.2] })
        })
        await res.body.text()
        if (res.statusCode === 200) tally.ok++
        else tally.statuses[res.statusCode] = (tally.statuses[res.statusCode] ?? 0) + 1
      } catch (error) {
        tally.errors.push((error as Error).message)
      }
      await sleep(PAUSE_MS)
    }
  }
  const loops = Array.from({ length: CONCURRENCY }, loop)
  return {
    phase: (name: string) => {
      current = { ok: 0, statuses: {}, errors: [] }
      tallies.set(name, current)
    },
    tallies,
    stop: async () => {
      state.stopping = true
      await Promise.all(loops)
      await dispatcher.close()
    }
  }
}

const failures = (tally: Tally | undefined): number =>
  tally === undefined ? Infinity : Object.values(tally.statuses).reduce((sum, count) => sum + count, 0) + tally.errors.length

const describe = (tally: Tally | undefined): string =>
  tally === undefined ? 'none' : `${tally.ok} × 200, ${JSON.stringify(tally.statuses)}, ${tally.errors.length} errors${tally.errors.length > 0 ? ` (${[...new Set(tally.errors)].join('; ')})` : ''}`

t.test('three pods behind HAProxy, sharing Redis, under continuous load', { skip: missing(), timeout: 240_000 }, async t => {
  const run = randomUUID().slice(0, 8)
  const repository = cachedIrisRepository(t)
  const redisPort = await freePort()
  let redis = await startRedis(t, redisPort)
  const ports = await Promise.all(Array.from({ length: POD_COUNT }, freePort))
  const env = (port: number): Record<string, string> => ({
    PORT: String(port),
    GRPC_PORT: '0',
    MODEL_REPOSITORY: repository,
    DEFAULT_MODEL: 'iris',
    INFERENCE_THREADS: '1',
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    RATE_LIMIT_MAX: String(QUOTA),
    // Long enough for HAProxy's checks (every 300 ms) to see the 503 and stop sending.
    SHUTDOWN_DELAY_MS: '1500'
  })
  const pods: ServerProcess[] = await Promise.all(ports.map(async port => await startServer(t, env(port))))
  await Promise.all(pods.map(async pod => await waitReady(pod.url)))

  const proxyPort = await freePort()
  // Not t.testdir(): a second call would empty the folder the model repository is in.
  const configDir = mkdtempSync(join(tmpdir(), 'onnx-serve-haproxy-'))
  t.teardown(() => rmSync(configDir, { recursive: true, force: true }))
  const config = join(configDir, 'haproxy.cfg')
  writeFileSync(config, [
    'global', '  maxconn 1000',
    'defaults', '  mode http', '  timeout connect 1s', '  timeout client 10s', '  timeout server 10s',
    // A request a pod could not take (closed, reset, gone) goes to another.
    '  retries 3', '  option redispatch', '  option http-buffer-request', '  retry-on conn-failure empty-response response-timeout',
    'frontend onnx', `  bind 127.0.0.1:${proxyPort}`, '  default_backend pods',
    'backend pods', '  balance roundrobin', '  option httpchk GET /health/ready', '  http-check expect status 200',
    '  default-server inter 300ms fall 1 rise 2',
    ...ports.map((port, i) => `  server pod${i} 127.0.0.1:${port} check`)
  ].join('\n') + '\n')
  const proxy: ChildProcess = spawn('haproxy', ['-db', '-f', config], { stdio: 'ignore' })
  t.teardown(() => { proxy.kill('SIGKILL') })
  const proxyUrl = `http://127.0.0.1:${proxyPort}`
  await waitFor('HAProxy to answer', async () => (await fetch(`${proxyUrl}/health/live`).catch(() => undefined))?.status === 200, 10_000)
  await sleep(1000)

  // One quota across the pods: exactly QUOTA answers, then 429s, whichever pod answers.
  const quotaToken = `Bearer ${devToken({ sub: `quota-${run}`, scope: 'predict' })}`
  const quotaStatuses: number[] = []
  for (let i = 0; i < QUOTA + 10; i++) {
    const res = await fetch(`${proxyUrl}/predict`, { method: 'POST', headers: { authorization: quotaToken, 'content-type': 'application/json' }, body: '{"input_data":[5.1,3.5,1.4,0.2]}' })
    quotaStatuses.push(res.status)
  }
  t.equal(quotaStatuses.filter(status => status === 200).length, QUOTA, `${QUOTA} answered across ${POD_COUNT} pods`)
  t.equal(quotaStatuses.filter(status => status === 429).length, 10, 'then 429, from every pod')

  // A prediction cached by one pod is a HIT through another.
  const row = JSON.stringify({ input_data: freshRow() })
  const bearer = { authorization: `Bearer ${devToken({ sub: `cache-${run}`, scope: 'predict' })}`, 'content-type': 'application/json' }
  const first = await fetch(`${pods[0].url}/predict`, { method: 'POST', headers: bearer, body: row })
  t.equal(first.headers.get('x-cache'), 'MISS', 'pod 0 computes it')
  await sleep(100)
  const second = await fetch(`${pods[2].url}/predict`, { method: 'POST', headers: bearer, body: row })
  t.equal(second.headers.get('x-cache'), 'HIT', 'pod 2 finds it')
  t.equal(await second.text(), await first.text(), 'the same prediction')

  const load = startLoad(proxyUrl, run)
  await sleep(2000)

  load.phase('Redis stopped')
  await stopRedis(redis)
  await sleep(3000)
  redis = await startRedis(t, redisPort)
  await sleep(1500)

  load.phase('a pod killed with SIGKILL')
  pods[1].child.kill('SIGKILL')
  await pods[1].exited
  await sleep(1500)
  pods[1] = await startServer(t, env(ports[1]))
  await waitReady(pods[1].url, 60_000)
  await sleep(1000)

  load.phase('rolling restart')
  for (let i = 0; i < POD_COUNT; i++) {
    pods[i].child.kill('SIGTERM')
    t.equal(await pods[i].exited, 0, `pod ${i} drained and exited 0`)
    pods[i] = await startServer(t, env(ports[i]))
    await waitReady(pods[i].url, 60_000)
    // HAProxy's checks (rise 2 × 300 ms) bring it back before the next one goes.
    await sleep(1000)
  }

  load.phase('after')
  await sleep(1000)
  await load.stop()
  for (const [phase, tally] of load.tallies) t.comment(`${phase}: ${describe(tally)}`)

  t.ok((load.tallies.get('warm-up')?.ok ?? 0) > 100, 'the load ran')
  t.equal(failures(load.tallies.get('Redis stopped')), 0, `Redis stopped for 3 s: no request lost (${describe(load.tallies.get('Redis stopped'))})`)
  t.ok(failures(load.tallies.get('a pod killed with SIGKILL')) <= CONCURRENCY, `SIGKILL: at most the ${CONCURRENCY} requests in flight lost (${describe(load.tallies.get('a pod killed with SIGKILL'))})`)
  t.equal(failures(load.tallies.get('rolling restart')), 0, `rolling restart: no request lost (${describe(load.tallies.get('rolling restart'))})`)
  t.equal(failures(load.tallies.get('after')), 0, 'all three pods serve afterwards')
  proxy.kill('SIGTERM')
  await once(proxy, 'exit')
})
