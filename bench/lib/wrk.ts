// wrk (Debian's package) as the bench's second load generator: a C client
// with an event loop per thread, so it reaches rates autocannon (JavaScript,
// one thread) cannot, and it sends the next request the moment a response
// ends. Two generators that agree on a row make it a property of the server;
// a row that moves with the generator is a property of how requests arrive.
//
// wrk cycles through the same pre-serialized bodies as autocannon, built by
// a Lua script in `init`; its `done` hook prints one JSON line with the
// totals, the latency percentiles (µs) and its own CPU from /proc/self/stat.

import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { LatencySummary } from './stats'

/** The totals wrk's `done` hook prints. */
export interface WrkSummary {
  /** µs the run lasted, as wrk measured it. */
  durationUs: number
  /** Responses read, any status. */
  requests: number
  /** Responses with a status of 400 or more (wrk's `errors.status`). */
  statusErrors: number
  connectErrors: number
  readErrors: number
  writeErrors: number
  timeouts: number
  /** Latency of every response, ms. */
  latency: LatencySummary
  /** wrk's own CPU over the run, seconds (user + system). */
  cpuSeconds: number
}

// Clock ticks per second of /proc/<pid>/stat's times: 100 on every Linux build the bench targets.
const CLOCK_TICKS = 100

/** A Lua string literal: JSON's escapes for the bench's ASCII bodies are Lua's too. */
function luaString (text: string): string {
  if (!/^[\x20-\x7e]*$/.test(text)) throw new Error('wrk bodies must be printable ASCII')
  return JSON.stringify(text)
}

/** The Lua script: every request POSTs the next body of the pool to `path`, with the bearer token. */
export function wrkScript (path: string, bodies: readonly string[], token: string): string {
  return `-- written by bench/lib/wrk.ts for one run
local bodies = {
${bodies.map(body => `  ${luaString(body)},`).join('\n')}
}
local requests = {}
local next = 0

function init (args)
  local headers = { ["Content-Type"] = "application/json", ["Authorization"] = ${luaString(`Bearer ${token}`)} }
  for i, body in ipairs(bodies) do requests[i] = wrk.format("POST", ${luaString(path)}, headers, body) end
end

function request ()
  next = next % #requests + 1
  return requests[next]
end

function done (summary, latency, requests)
  local stat = io.open("/proc/self/stat"):read("*a")
  local fields = {}
  for field in stat:match("%) (.*)"):gmatch("%S+") do fields[#fields + 1] = field end
  local e = summary.errors
  io.write(string.format('WRK_SUMMARY {"durationUs":%d,"requests":%d,"statusErrors":%d,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"timeouts":%d,' ..
    '"latencyUs":{"count":%d,"mean":%f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d},"cpuTicks":%d}\\n',
    summary.duration, summary.requests, e.status, e.connect, e.read, e.write, e.timeout,
    summary.requests, latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max,
    tonumber(fields[12]) + tonumber(fields[13])))
end
`
}

/** The line as the script prints it: latencies in µs, CPU in clock ticks. */
type WrkJson = Omit<WrkSummary, 'latency' | 'cpuSeconds'> & {
  latencyUs: WrkSummary['latency']
  cpuTicks: number
}

/** The summary in wrk's output (the line the script's `done` prints). */
export function parseWrkOutput (output: string): WrkSummary {
  const line = output.split('\n').find(text => text.startsWith('WRK_SUMMARY '))
  if (line === undefined) throw new Error(`wrk printed no summary: ${output.slice(0, 500)}`)
  const json = JSON.parse(line.slice('WRK_SUMMARY '.length)) as WrkJson
  const ms = (us: number): number => us / 1000
  const { latencyUs } = json
  return {
    durationUs: json.durationUs,
    requests: json.requests,
    statusErrors: json.statusErrors,
    connectErrors: json.connectErrors,
    readErrors: json.readErrors,
    writeErrors: json.writeErrors,
    timeouts: json.timeouts,
    latency: { count: latencyUs.count, mean: ms(latencyUs.mean), p50: ms(latencyUs.p50), p90: ms(latencyUs.p90), p99: ms(latencyUs.p99), p999: ms(latencyUs.p999), max: ms(latencyUs.max) },
    cpuSeconds: json.cpuTicks / CLOCK_TICKS
  }
}

export interface WrkRun {
  url: string
  connections: number
  seconds: number
  bodies: readonly string[]
  token: string
}

/** One wrk run (one thread: the load has one core); rejects when wrk is missing or fails. */
export async function runWrk (run: WrkRun): Promise<WrkSummary> {
  const url = new URL(run.url)
  const dir = mkdtempSync(join(tmpdir(), 'onnx-serve-wrk-'))
  try {
    const script = join(dir, 'bodies.lua')
    writeFileSync(script, wrkScript(url.pathname, run.bodies, run.token))
    const output = await new Promise<string>((resolve, reject) => {
      execFile('wrk', ['-t1', `-c${run.connections}`, `-d${run.seconds}s`, '--timeout', '10s', '-s', script, `${url.origin}/`],
        { maxBuffer: 1024 * 1024, timeout: (run.seconds + 30) * 1000 },
        (error, stdout, stderr) => {
          if (error !== null) {
            const missing = (error as NodeJS.ErrnoException).code === 'ENOENT'
            reject(new Error(missing ? 'wrk is not installed: apt-get install wrk (or --generators autocannon)' : `wrk failed: ${error.message} ${stderr}`))
          } else resolve(stdout)
        })
    })
    return parseWrkOutput(output)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
