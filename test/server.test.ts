import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { bundledRepository, devToken } from './helpers/build-app'
import { slowRepository, slowRows } from './helpers/slow-model'
import { startServer, waitReady } from './helpers/server-process'

const authorization = `Bearer ${devToken()}`

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
    env: { ...process.env, PORT: '0', GRPC_PORT: '0' },
    encoding: 'utf8'
  })
  t.equal(run.status, 1)
  t.equal(run.stderr.trim(), 'onnx-serve: INFERENCE_QUEUE="lots" is invalid; expected inference runs accepted at once before answering 503: an integer from 1 to 100000')
})

t.test('SIGTERM: readiness turns 503, in-flight requests finish, exit 0', async t => {
  const server = await startServer(t, {
    MODEL_REPOSITORY: slowRepository(t),
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
