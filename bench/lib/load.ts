// The load generator, a process of its own that the bench pins to core 1:
// autocannon, run programmatically because its CLI sends one body forever,
// wrk (bench/lib/wrk.ts), which this process starts and which inherits
// its core, or the gRPC loop (bench/lib/grpc-load.ts), ModelInfer calls
// from this process.
// Each connection cycles through a pool of pre-serialized random rows
// (autocannon's `requests`, built once, so no CPU goes into building bodies
// while measuring). Prints JSON lines: {"event":"warmed"} when the warm-up
// is over, then {"event":"done","result":{...}}.
//
//   node bench/dist/bench/lib/load.js '<LoadConfig as JSON>'

import autocannon from 'autocannon'
import { GrpcLoad, serializedRequests } from './grpc-load'
import type { BenchModel } from './models'
import { BODY_POOL_SIZE, bodyPool, randomRows, uniqueRows, type BodyKind } from './scenarios'
import { LatencyHistogram, type LatencySummary } from './stats'
import { runWrk } from './wrk'

export type Generator = 'autocannon' | 'wrk' | 'grpc'

export interface LoadConfig {
  /** http://127.0.0.1:PORT/path, or grpc://127.0.0.1:PORT for the gRPC loop: loopback only. */
  url: string
  kind: BodyKind
  model: BenchModel
  connections: number
  warmupSeconds: number
  seconds: number
  /** Bearer token; the ceilings ignore it, onnx-serve checks it on every request. */
  token: string
  seed: number
  /** Default autocannon. */
  generator?: Generator
  /**
   * pool (default): the random rows cycled; same: the pool's first row on
   * every request (the prediction cache's hit path); unique: a row no
   * request has sent before (its miss path).
   */
  rows?: 'pool' | 'same' | 'unique'
}

export interface LoadResult {
  /** process.hrtime in µs (CLOCK_MONOTONIC, the clock of --cpu-prof's timestamps) at the measured run's start and end. */
  startUs: number
  endUs: number
  seconds: number
  /** 2xx responses (gRPC: OK answers) per second: refused requests are errors, not throughput. */
  rps: number
  ok: number
  /** Non-2xx responses; gRPC: answers with a status other than OK (a deadline passed is a timeout instead). */
  non2xx: number
  /** Socket errors and timeouts (autocannon counts a timeout as an error too; gRPC: the calls past their deadline). */
  errors: number
  timeouts: number
  /** Responses by HTTP status code, or by gRPC status name (OK, UNAVAILABLE, …). */
  statusCodes: Record<string, number>
  /** Of 2xx responses (gRPC: OK answers), in ms at 1 µs resolution (autocannon's own are whole ms). */
  latency: LatencySummary
  /** CPU the load generator used, as a fraction of its one core: near 1, it was the bottleneck. */
  loadCpu: number
  generator: Generator
}

function nowUs (): number {
  return Number(process.hrtime.bigint() / 1000n)
}

function runOnce (config: LoadConfig, seconds: number, requests: autocannon.Request[]): Promise<LoadResult> {
  const latencies = new LatencyHistogram()
  const cpuBefore = process.cpuUsage()
  const startUs = nowUs()
  return new Promise((resolve, reject) => {
    const instance = autocannon({
      url: config.url,
      connections: config.connections,
      duration: seconds,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${config.token}` },
      requests
    }, (error, result) => {
      if (error !== null && error !== undefined) return reject(error)
      const endUs = nowUs()
      const cpu = process.cpuUsage(cpuBefore)
      const elapsed = (endUs - startUs) / 1e6
      const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, stat]) => [code, stat.count ?? 0]))
      resolve({
        startUs,
        endUs,
        seconds: elapsed,
        rps: latencies.count / elapsed,
        ok: latencies.count,
        non2xx: result.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
        statusCodes,
        latency: latencies.summary(),
        loadCpu: (cpu.user + cpu.system) / 1e6 / elapsed,
        generator: 'autocannon'
      })
    })
    // The tracker passes the client first; the typings describe the client's own event.
    const tracker = instance as unknown as NodeJS.EventEmitter
    tracker.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      if (statusCode >= 200 && statusCode < 300) latencies.record(responseTime)
    })
  })
}

/** A wrk run as a LoadResult: wrk counts any status of 400 or more as an error, and times every response. */
async function runWrkOnce (config: LoadConfig, seconds: number, bodies: string[]): Promise<LoadResult> {
  const startUs = nowUs()
  const wrk = await runWrk({ url: config.url, connections: config.connections, seconds, bodies, token: config.token })
  const endUs = nowUs()
  const elapsed = wrk.durationUs / 1e6
  const ok = wrk.requests - wrk.statusErrors
  return {
    startUs,
    endUs,
    seconds: elapsed,
    rps: ok / elapsed,
    ok,
    non2xx: wrk.statusErrors,
    errors: wrk.connectErrors + wrk.readErrors + wrk.writeErrors + wrk.timeouts,
    timeouts: wrk.timeouts,
    statusCodes: wrk.statusErrors > 0 ? { '4xx/5xx': wrk.statusErrors } : {},
    latency: wrk.latency,
    loadCpu: wrk.cpuSeconds / elapsed,
    generator: 'wrk'
  }
}

/**
 * The warm-up goes on past its seconds until this many requests were
 * answered: V8 compiles a function once it has run enough, so a slow row (a
 * gRPC call at one connection, 700 a second on the EPYC) measured after 2 s
 * still had the compiler threads at work, and cost 1,015 µs a call against
 * 628 once warm.
 */
export const WARMUP_MIN_REQUESTS = 10_000
/** ...but never longer than this, in all: a row that slow is measured as it is. */
export const WARMUP_MAX_SECONDS = 30

/** Seconds more of warm-up after a first round that answered `answered` requests (any status) in `seconds`: 0 once the floor is met. */
export function moreWarmupSeconds (answered: number, seconds: number): number {
  if (answered >= WARMUP_MIN_REQUESTS || seconds >= WARMUP_MAX_SECONDS) return 0
  // Nothing answered: more of the same would not warm anything.
  if (answered === 0) return 0
  return Math.min(Math.ceil((WARMUP_MIN_REQUESTS - answered) * seconds / answered), WARMUP_MAX_SECONDS - seconds)
}

/** The warm-up: `warmupSeconds` of load, then more while too few requests were answered (above). */
async function warmUp (config: LoadConfig, run: (seconds: number) => Promise<LoadResult>): Promise<void> {
  if (config.warmupSeconds === 0) return
  const first = await run(config.warmupSeconds)
  const more = moreWarmupSeconds(first.ok + first.non2xx, config.warmupSeconds)
  if (more > 0) await run(more)
}

function emit (line: object): void {
  process.stdout.write(JSON.stringify(line) + '\n')
}

/** The gRPC loop: the same channels for the warm-up and the measured run. */
async function runGrpc (config: LoadConfig, address: string): Promise<void> {
  if (config.rows === 'unique') throw new Error('unique rows are autocannon\'s (a body built per request)')
  const rows = randomRows(config.model, config.rows === 'same' ? 1 : BODY_POOL_SIZE, config.seed)
  const load = new GrpcLoad({ address, token: config.token, inFlight: config.connections, requests: serializedRequests(config.model, rows) })
  try {
    await load.ready()
    await warmUp(config, async seconds => await load.run(seconds))
    emit({ event: 'warmed', at: nowUs() })
    emit({ event: 'done', result: await load.run(config.seconds) })
  } finally {
    load.close()
  }
}

async function main (): Promise<void> {
  const config = JSON.parse(process.argv[2]) as LoadConfig
  const url = new URL(config.url)
  if (url.hostname !== '127.0.0.1') throw new Error(`the bench loads 127.0.0.1 only, not ${url.hostname}`)
  if (config.generator === 'grpc') {
    if (url.protocol !== 'grpc:') throw new Error(`the gRPC loop takes grpc://127.0.0.1:PORT, not ${config.url}`)
    await runGrpc(config, url.host)
    return
  }
  const bodies = bodyPool(config.kind, config.model, config.rows === 'same' ? 1 : BODY_POOL_SIZE, config.seed)
  if (config.generator === 'wrk') {
    if (config.rows === 'unique') throw new Error('unique rows are autocannon\'s (a body built per request)')
    await warmUp(config, async seconds => await runWrkOnce(config, seconds, bodies))
    emit({ event: 'warmed', at: nowUs() })
    emit({ event: 'done', result: await runWrkOnce(config, config.seconds, bodies) })
    return
  }
  const requests = config.rows === 'unique' ? [uniqueRows(bodies, url.pathname)] : bodies.map(body => ({ method: 'POST' as const, path: url.pathname, body }))
  await warmUp(config, async seconds => await runOnce(config, seconds, requests))
  emit({ event: 'warmed', at: nowUs() })
  emit({ event: 'done', result: await runOnce(config, config.seconds, requests) })
}

if (require.main === module) {
  main().catch(error => {
    process.stderr.write(`load: ${error instanceof Error ? error.stack : String(error)}\n`)
    process.exit(1)
  })
}
