// WORKERS > 1: the primary replaces any server process that dies, whatever
// killed it, and gives up (exit 1) when they keep dying as they start.

import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { freePort } from '../scripts/free-port'
import { bundledRepository } from './helpers/build-app'
import { startServer, waitReady } from './helpers/server-process'
import { writeLargeGraph } from './helpers/large-graph'
import { setosa, sign } from './helpers/tokens'

/** The server processes the primary runs (its children, from /proc). */
function childPids (pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

async function waitFor<T> (what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const value = probe()
    if (value !== undefined) return value
    await sleep(50)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

t.test('a server process killed by a signal is replaced, and the group keeps serving', async t => {
  // A fixed port: when every server is gone the primary closes the shared socket, and port 0 would pick a new one.
  const server = await startServer(t, { WORKERS: '2', HOST: '127.0.0.1', PORT: String(await freePort()), MODEL_REPOSITORY: bundledRepository, INFERENCE_THREADS: '1' })
  const primary = server.child.pid as number
  await waitReady(server.url)
  const first = await waitFor('two server processes', () => { const pids = childPids(primary); return pids.length === 2 ? pids : undefined })

  process.kill(first[0], 'SIGKILL')
  const second = await waitFor('a replacement', () => {
    const pids = childPids(primary)
    return pids.length === 2 && !pids.includes(first[0]) ? pids : undefined
  })
  t.ok(second.includes(first[1]), 'the other process kept running')
  const replaced = server.logs.find(entry => entry.msg === 'a server process exited unexpectedly; starting another')
  t.match(replaced, { level: 50, role: 'primary', pid: primary, serverPid: first[0], signal: 'SIGKILL', code: null }, 'the primary logs the death and its signal')

  // Both at once, as an OOM killer might: the group comes back.
  for (const pid of second) process.kill(pid, 'SIGKILL')
  await waitFor('two new server processes', () => {
    const pids = childPids(primary)
    return pids.length === 2 && !pids.some(pid => second.includes(pid)) ? pids : undefined
  })
  await waitReady(server.url)
  t.equal((await fetch(`${server.url}/health/live`)).status, 200, 'serving again')

  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0, 'a signal to the primary still drains every server and exits 0')
})

/** A prediction on a connection of its own, so the shared port spreads them over the processes. */
async function predictOnce (url: string, authorization: string): Promise<number> {
  const res = await fetch(`${url}/predict`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json', connection: 'close' },
    body: JSON.stringify({ input_data: setosa })
  })
  await res.arrayBuffer()
  return res.status
}

t.test('a server process takes connections only once its models are loaded: at start and as a replacement', async t => {
  // A model whose session takes a second or more to open (in the inference
  // threads, so the process answers meanwhile): a process that listened
  // before loading would be caught answering 503.
  const repository = mkdtempSync(join(tmpdir(), 'onnx-serve-cluster-'))
  t.teardown(() => rmSync(repository, { recursive: true, force: true }))
  writeLargeGraph(repository, 20_000)
  const secret = 'cluster-supervisor-test-secret-'.padEnd(40, 'x')
  const authorization = `Bearer ${sign(secret, 'HS256', { sub: 'cluster', scope: 'predict' })}`
  const server = await startServer(t, { WORKERS: '2', HOST: '127.0.0.1', PORT: String(await freePort()), JWT_SECRET: secret, MODEL_REPOSITORY: repository, DEFAULT_MODEL: 'large-graph', INFERENCE_THREADS: '1' })
  const primary = server.child.pid as number

  // From the first "listening" line on, whichever process a connection lands on.
  const atStart: number[] = []
  for (let i = 0; i < 20; i++) atStart.push(await predictOnce(server.url, authorization))
  t.strictSame(atStart.filter(status => status !== 200), [], 'every prediction from the moment the server listens is served')

  const first = await waitFor('two server processes', () => { const pids = childPids(primary); return pids.length === 2 ? pids : undefined })
  await waitFor('both processes listening', () => server.logs.filter(entry => /listening at/.test(String(entry.msg))).length >= 2 ? true : undefined)
  process.kill(first[0], 'SIGKILL')
  const replacement = await waitFor('a replacement', () => childPids(primary).find(pid => !first.includes(pid)))
  const statuses: number[] = []
  const loaded = (): boolean => server.logs.some(entry => entry.pid === replacement && entry.msg === 'model repository read')
  const servedByReplacement = (): boolean => server.logs.some(entry => entry.pid === replacement && (entry.req as { url?: string } | undefined)?.url === '/predict')
  const until = Date.now() + 60_000
  while (!(loaded() && servedByReplacement()) && Date.now() < until) statuses.push(await predictOnce(server.url, authorization))
  t.ok(loaded() && servedByReplacement(), 'the replacement loaded its models and then took its share')
  t.ok(statuses.length > 0, `${statuses.length} predictions while the replacement started`)
  t.strictSame(statuses.filter(status => status !== 200), [], 'none of them met a process that was still loading')
})

t.test('servers that die as they start are retried with a back-off, then the primary gives up and exits 1', async t => {
  // The port is taken: every server process fails to listen.
  const blocker = createServer()
  await new Promise<void>(resolve => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { blocker.close() })
  const { port } = blocker.address() as AddressInfo
  const child = spawn(process.execPath, [...process.execArgv, join(__dirname, '..', 'server.ts')], {
    cwd: __dirname,
    env: { ...process.env, NODE_ENV: 'test', WORKERS: '2', HOST: '127.0.0.1', PORT: String(port), GRPC_PORT: '0', MODEL_REPOSITORY: bundledRepository, INFERENCE_THREADS: '1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let stdout = ''
  child.stdout?.on('data', chunk => { stdout += String(chunk) })
  const started = Date.now()
  const [code] = await once(child, 'exit') as [number | null]
  t.equal(code, 1, 'the primary exits non-zero')
  const lines = stdout.split('\n').filter(line => line.startsWith('{')).map(line => JSON.parse(line) as Record<string, unknown>)
  const restarts = lines.filter(line => line.msg === 'a server process exited unexpectedly; starting another')
  t.strictSame(restarts.map(line => line.restartInMs), [250, 500, 1000, 2000], 'each early death doubles the wait')
  t.match(lines.find(line => line.level === 60), { msg: /died 5 times in a row within seconds of starting; giving up/, earlyExits: 5 })
  t.ok(Date.now() - started >= 3750, 'not before the back-off ran its course')
})
