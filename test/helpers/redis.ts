// Redis for the tests that share state through it: the machine's Redis on
// 6379, or a redis-server of a test's own that it can stop and freeze.
// Without them those tests are skipped with how to run them; in CI
// (CI=true) they fail instead.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { performance } from 'node:perf_hooks'
import t from 'tap'
import type { FastifyInstance } from 'fastify'

export { freePort } from '../../scripts/free-port'

export const SHARED_REDIS_URL = 'redis://127.0.0.1:6379'
const START_REDIS = 'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no'

/** Whether a Redis answers PING on the port, checked synchronously so tests can be skipped at definition. */
function redisAnswers (port: number): boolean {
  const script = `
    const socket = require('node:net').connect(${port}, '127.0.0.1')
    socket.setTimeout(1000, () => process.exit(1))
    socket.on('error', () => process.exit(1))
    socket.on('connect', () => socket.write('PING\\r\\n'))
    socket.on('data', data => process.exit(String(data).startsWith('+PONG') ? 0 : 1))`
  return spawnSync(process.execPath, ['-e', script], { timeout: 3000 }).status === 0
}

/** false, or why the test cannot run; in CI a missing prerequisite is a failure, not a skip. */
function prerequisite (missing: string | undefined): false | string {
  if (missing === undefined) return false
  if (process.env.CI === 'true') {
    t.fail(`${missing} (CI=true: these tests must run in CI)`)
  }
  return missing
}

/** The `skip` of a test that needs the Redis on 127.0.0.1:6379. */
export const sharedRedisSkip = prerequisite(redisAnswers(6379) ? undefined : `no Redis answers on 127.0.0.1:6379; start one with: ${START_REDIS}`)
/** The `skip` of a test that starts, stops or freezes a redis-server of its own. */
export const ownRedisSkip = prerequisite(spawnSync('redis-server', ['--version']).status === 0
  ? undefined
  : 'redis-server is not installed (apt-get install redis-server); this test starts its own')

export async function waitFor (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<number> {
  const start = performance.now()
  while (!(await check())) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  return performance.now() - start
}

/** A redis-server of the test's own on `port`, killed when the test ends. */
export async function startRedis (t: { teardown: (fn: () => void) => void }, port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  await waitFor(`redis-server on port ${port}`, () => child.exitCode === null && redisAnswers(port))
  return child
}

export async function stopRedis (child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
}

export async function redisReady (app: FastifyInstance): Promise<void> {
  await waitFor('the app\'s redis client to be ready', () => app.redis?.status === 'ready')
}
