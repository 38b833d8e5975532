import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { bundledRepository, devToken } from './helpers/build-app'
import { writeSlowModel } from './helpers/slow-model'
import { startServer, waitReady } from './helpers/server-process'

function slowRepository (): string {
  const dir = mkdtempSync(join(tmpdir(), 'onnx-serve-slow-'))
  writeSlowModel(dir)
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const authorization = `Bearer ${devToken()}`
// Quotas no load test reaches.
const unlimited = { RATE_LIMIT_MAX: '10000000' }

const slowRows = (rows: number) => JSON.stringify({ instances: Array.from({ length: rows }, () => new Array(512).fill(0.25)) })

t.test('a bad variable stops the server with one line naming it', async t => {
  const run = spawnSync(process.execPath, [...process.execArgv, join(__dirname, '..', 'server.ts')], {
    cwd: __dirname,
    env: { ...process.env, PORT: 'eighty', MODEL_REPOSITORY: bundledRepository },
    encoding: 'utf8'
  })
  t.equal(run.status, 1)
  t.equal(run.stderr.trim(), 'onnx-serve: PORT="eighty" is invalid; expected the TCP port: an integer from 0 to 65535')
  t.equal(run.stdout, '')
})

t.test('a .env in the working directory is read, and checked the same way', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'onnx-serve-env-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, '.env'), `MODEL_REPOSITORY=${bundledRepository}\nINFERENCE_QUEUE=lots\n`)
  const run = spawnSync(process.execPath, [...process.execArgv, join(__dirname, '..', 'server.ts')], {
    cwd: dir,
    env: { ...process.env, PORT: '0' },
    encoding: 'utf8'
  })
  t.equal(run.status, 1)
  t.equal(run.stderr.trim(), 'onnx-serve: INFERENCE_QUEUE="lots" is invalid; expected inference runs accepted at once before answering 503: an integer from 1 to 100000')
})

t.test('SIGTERM: readiness turns 503, in-flight requests finish, exit 0', async t => {
  const server = await startServer(t, {
    MODEL_REPOSITORY: slowRepository(),
    INFERENCE_THREADS: '1',
    SHUTDOWN_DELAY_MS: '400',
    BODY_LIMIT: String(8 * 1024 * 1024)
  })
  await waitReady(server.url)
  const inFlight = fetch(`${server.url}/v1/models/slow/predict`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: slowRows(64)
  })
  await sleep(50)
  server.child.kill('SIGTERM')
  await sleep(100)
  const ready = await fetch(`${server.url}/health/ready`, { headers: { connection: 'close' } })
  t.equal(ready.status, 503, 'readiness is 503 while draining')
  t.same(await ready.json(), { status: 'unavailable', reason: 'shutting down' })

  const res = await inFlight
  t.equal(res.status, 200, 'the in-flight request completes')
  const body = await res.json() as { predictions: number[][] }
  t.equal(body.predictions.length, 64)
  t.equal(await server.exited, 0, 'exits 0')
  t.ok(server.logs.some(entry => entry.msg === 'shutting down' && entry.signal === 'SIGTERM'))
})

interface LoadResult {
  requests: { total: number }
  non2xx: number
  errors: number
}

/** autocannon in its own process, so the probes below measure the server alone. */
async function load (url: string, connections: number, seconds: number, body: string): Promise<LoadResult> {
  const child = spawn(process.execPath, [
    require.resolve('autocannon/autocannon.js'), '-j', '-c', String(connections), '-d', String(seconds),
    '-m', 'POST', '-H', 'content-type=application/json', '-H', `authorization=${authorization}`, '-b', body, url
  ], { stdio: ['ignore', 'pipe', 'ignore'] })
  let out = ''
  child.stdout.on('data', chunk => { out += String(chunk) })
  await once(child, 'exit')
  return JSON.parse(out) as LoadResult
}

/** Probes /health/live every 20 ms while `busy` runs; returns the slowest answer in ms. */
async function slowestLiveness (url: string, busy: Promise<unknown>): Promise<{ worst: number, probes: number }> {
  const state = { done: false }
  busy.finally(() => { state.done = true })
  await sleep(300)
  const latencies: number[] = []
  while (!state.done) {
    const start = performance.now()
    const res = await fetch(`${url}/health/live`)
    await res.arrayBuffer()
    latencies.push(performance.now() - start)
    await sleep(20)
  }
  return { worst: Math.max(...latencies), probes: latencies.length }
}

t.test('liveness answers within 50 ms while the iris model is saturated', async t => {
  const server = await startServer(t, { MODEL_REPOSITORY: bundledRepository, INFERENCE_THREADS: '1', ...unlimited })
  await waitReady(server.url)
  const rows = JSON.stringify({ input_data: Array.from({ length: 64 }, () => [5.1, 3.5, 1.4, 0.2]) })
  const busy = load(`${server.url}/predict`, 16, 3, rows)
  const { worst, probes } = await slowestLiveness(server.url, busy)
  const result = await busy
  t.equal(result.non2xx + result.errors, 0, 'every prediction succeeded')
  t.ok(result.requests.total > 500, `${result.requests.total} predictions in 3 s`)
  t.ok(probes > 50, `${probes} liveness probes`)
  t.ok(worst < 50, `slowest liveness answer ${worst.toFixed(1)} ms`)
})

t.test('liveness answers within 50 ms while a slow model keeps the worker busy', async t => {
  const server = await startServer(t, { MODEL_REPOSITORY: slowRepository(), INFERENCE_THREADS: '1', ...unlimited })
  await waitReady(server.url)
  const busy = load(`${server.url}/v1/models/slow/predict`, 8, 3, slowRows(16))
  const { worst, probes } = await slowestLiveness(server.url, busy)
  const result = await busy
  t.equal(result.non2xx + result.errors, 0, 'every prediction succeeded')
  // Each run takes tens of ms on one thread: on the event loop they would stall every probe.
  t.ok(result.requests.total > 10, `${result.requests.total} slow predictions in 3 s`)
  t.ok(worst < 50, `slowest liveness answer ${worst.toFixed(1)} ms over ${probes} probes`)
})
