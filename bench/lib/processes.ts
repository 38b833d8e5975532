// The processes of a bench run: servers pinned to core 0, the load generator
// and its JSON lines on core 1, the in-process loop on core 0, and the
// server's resident memory sampled from /proc while it is measured.

import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { openSync, closeSync } from 'node:fs'
import { connect } from 'node:net'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import type { InProcessConfig, InProcessResult } from './in-process'
import type { LoadConfig, LoadResult } from './load'
import { readCpuMs, readRssMb, type RssSample } from './stats'

export const SERVER_CORE = 0
export const LOAD_CORE = 1
/** With one core there is nothing to pin apart; the report says so. */
export const pinned = availableParallelism() >= 2

// Every child still running, so an interrupted bench leaves no server behind.
const running = new Set<ChildProcess>()

function track (child: ChildProcess): ChildProcess {
  running.add(child)
  child.once('exit', () => running.delete(child))
  return child
}

/** SIGTERM to every child still running: for a bench that is interrupted. */
export function terminateChildren (): void {
  for (const child of running) child.kill('SIGTERM')
}

function pin (core: number, command: string[]): string[] {
  return pinned ? ['taskset', '-c', String(core), ...command] : command
}

export interface ServerProcess {
  name: string
  child: ChildProcess
  /** taskset execs the command, so this is the server's own pid. */
  pid: number
  logFile: string
  /** Date.now() once ready: what the server logged before (the readiness polls' 503s, start-up notices) is not the bench's concern. */
  readyAt: number
}

export interface ServerSpec {
  name: string
  node: string
  nodeArgs?: string[]
  script: string
  env: NodeJS.ProcessEnv
  cwd: string
  logDir: string
  port: number
  /** A URL answering 200 once the server is ready; otherwise an accepted TCP connection will do. */
  readyUrl?: string
}

async function accepts (port: number): Promise<boolean> {
  return await new Promise(resolve => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}

async function ready (spec: ServerSpec): Promise<boolean> {
  if (spec.readyUrl === undefined) return await accepts(spec.port)
  const response = await fetch(spec.readyUrl).catch(() => undefined)
  await response?.body?.cancel()
  return response?.status === 200
}

/** Starts a server on core 0 with its output in a log file; resolves once it is ready. */
export async function startServer (spec: ServerSpec, timeoutMs = 120_000): Promise<ServerProcess> {
  const logFile = join(spec.logDir, `${spec.name}.log`)
  const fd = openSync(logFile, 'a')
  const [file, ...args] = pin(SERVER_CORE, [spec.node, ...(spec.nodeArgs ?? []), spec.script])
  const child = track(spawn(file, args, { env: spec.env, cwd: spec.cwd, stdio: ['ignore', fd, fd] }))
  closeSync(fd)
  let exited: string | undefined
  child.once('exit', (code, signal) => { exited = `exited with ${code ?? signal}` })
  const deadline = Date.now() + timeoutMs
  while (!(await ready(spec))) {
    if (exited !== undefined) throw new Error(`${spec.name} ${exited} before it was ready; see ${logFile}`)
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`${spec.name} not ready after ${timeoutMs / 1000} s; see ${logFile}`)
    }
    await sleep(50)
  }
  if (child.pid === undefined) throw new Error(`${spec.name} has no pid`)
  return { name: spec.name, child, pid: child.pid, logFile, readyAt: Date.now() }
}

/** SIGTERM, and SIGKILL if it has not exited within `graceMs` (onnx-serve drains in-flight requests first). */
export async function stopServer (server: ServerProcess, graceMs = 60_000): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return
  const exit = once(server.child, 'exit')
  server.child.kill('SIGTERM')
  const timer = setTimeout(() => server.child.kill('SIGKILL'), graceMs)
  await exit
  clearTimeout(timer)
}

/** Lines of a child's stdout, parsed as JSON, handed over as they come. */
async function jsonLines (command: string[], onLine: (line: { event: string, [key: string]: unknown }) => void): Promise<void> {
  const [file, ...args] = command
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  track(child)
  const lines = createInterface({ input: child.stdout })
  lines.on('line', line => onLine(JSON.parse(line) as { event: string }))
  const [code] = await once(child, 'exit') as [number | null]
  if (code !== 0) throw new Error(`${command.slice(0, 4).join(' ')}… exited with ${code}`)
}

export interface MeasuredLoad {
  result: LoadResult
  /** The server's VmRSS once a second while measured (t in seconds from the measured start). */
  rss: RssSample[]
  /** CPU the server used while measured (all its threads), in ms. */
  cpuMs?: number
}

/** Runs the load generator on core 1 against a server, sampling its RSS once the warm-up is over. */
export async function runLoad (config: LoadConfig, serverPid: number | undefined): Promise<MeasuredLoad> {
  const rss: RssSample[] = []
  let sampler: NodeJS.Timeout | undefined
  let result: LoadResult | undefined
  let cpuAtStart: number | undefined
  let cpuAtEnd: number | undefined
  const sample = (started: number): void => {
    const rssMb = serverPid === undefined ? undefined : readRssMb(serverPid)
    if (rssMb !== undefined) rss.push({ t: Math.round((Date.now() - started) / 100) / 10, rssMb })
  }
  try {
    await jsonLines(pin(LOAD_CORE, [process.execPath, join(__dirname, 'load.js'), JSON.stringify(config)]), line => {
      if (line.event === 'warmed') {
        if (serverPid !== undefined) cpuAtStart = readCpuMs(serverPid)
        const started = Date.now()
        sample(started)
        sampler = setInterval(() => sample(started), 1000)
      } else if (line.event === 'done') {
        if (serverPid !== undefined) cpuAtEnd = readCpuMs(serverPid)
        result = line.result as LoadResult
      }
    })
  } finally {
    clearInterval(sampler)
  }
  if (result === undefined) throw new Error('the load generator printed no result')
  // The last sample: memory at the end of the load.
  sample(Date.now() - result.seconds * 1000)
  return { result, rss, cpuMs: cpuAtStart === undefined || cpuAtEnd === undefined ? undefined : cpuAtEnd - cpuAtStart }
}

/** The in-process loop on core 0, with the servers' Node. */
export async function runInProcess (node: string, config: InProcessConfig): Promise<InProcessResult> {
  let result: InProcessResult | undefined
  await jsonLines(pin(SERVER_CORE, [node, join(__dirname, 'in-process.js'), JSON.stringify(config)]), line => {
    if (line.event === 'done') result = line.result as InProcessResult
  })
  if (result === undefined) throw new Error('the in-process loop printed no result')
  return result
}
