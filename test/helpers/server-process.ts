// Runs server.ts as a real process, as `npm start` would, for the tests of
// start-up, shutdown and liveness under load.

import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'

interface Test {
  teardown: (fn: () => unknown) => void
}

export interface ServerProcess {
  url: string
  child: ChildProcess
  /** Every line the server wrote to stdout, parsed where it is JSON. */
  logs: Array<Record<string, unknown>>
  stderr: () => string
  /** Resolves with the exit code. */
  exited: Promise<number | null>
}

const serverFile = join(__dirname, '..', '..', 'server.ts')

/** Spawns the server with `env` (PORT 0: any free port) and waits until it listens. */
export async function startServer (t: Test, env: Record<string, string>, cwd = __dirname): Promise<ServerProcess> {
  // execArgv carries the test runner's TypeScript loader into the child.
  const child = spawn(process.execPath, [...process.execArgv, serverFile], {
    cwd,
    env: { ...process.env, NODE_ENV: 'test', PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const logs: Array<Record<string, unknown>> = []
  let stderr = ''
  child.stderr?.on('data', chunk => { stderr += String(chunk) })
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })

  let buffered = ''
  const listening = new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', chunk => {
      buffered += String(chunk)
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      for (const line of lines) {
        try {
          const entry = JSON.parse(line) as Record<string, unknown>
          logs.push(entry)
          const match = /listening at (https?:\/\/\S+)/.exec(String(entry.msg))
          if (match !== null) resolve(match[1])
        } catch {
          logs.push({ raw: line })
        }
      }
    })
    exited.then(code => reject(new Error(`server exited with ${code} before listening: ${stderr}`)))
  })
  const url = await listening
  return { url, child, logs, stderr: () => stderr, exited }
}

/** Polls readiness until it answers 200. */
export async function waitReady (url: string, timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const res = await fetch(`${url}/health/ready`).catch(() => undefined)
    if (res?.status === 200) return
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms`)
}
