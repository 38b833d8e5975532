// The gRPC load generator (Debian has no ghz): unary
// inference.GRPCInferenceService/ModelInfer calls by @grpc/grpc-js, run by
// the load process (bench/lib/load.ts, pinned to core 1) as autocannon is.
//
// N calls stay in flight (N: the scenario's connections), spread round-robin
// over one HTTP/2 channel per GRPC_CALLS_PER_CHANNEL of them: a gRPC client
// multiplexes calls on a channel, where autocannon opens a connection per
// request in flight; c10 is one channel, c64 seven. Each channel has its own
// subchannel pool, or grpc-js would share one connection between them.
// Every call carries the next row of the pool the HTTP targets cycle through
// (the same seed, so the same rows), as FP32 little-endian
// raw_input_contents; the requests are serialized once, before the load, and
// the answers are not decoded (autocannon and wrk do not parse bodies
// either): a call counts by its status.

import { Client, Metadata, credentials, status, type ServiceError } from '@grpc/grpc-js'
import { performance } from 'node:perf_hooks'
import { loadInferenceService } from '../../grpc/service-definition'
import type { LoadResult } from './load'
import type { BenchModel } from './models'
import { GRPC_CALLS_PER_CHANNEL, GRPC_DEADLINE_MS, GRPC_METHOD } from './scenarios'
import { LatencyHistogram } from './stats'

/** The method's path on the wire. */
export const MODEL_INFER_PATH = `/${GRPC_METHOD}`

/** HTTP/2 channels for `inFlight` calls: one per GRPC_CALLS_PER_CHANNEL, at least one. */
export function channelCount (inFlight: number): number {
  return Math.max(1, Math.ceil(inFlight / GRPC_CALLS_PER_CHANNEL))
}

/** One row as FP32 little-endian bytes: a raw_input_contents entry. */
export function fp32Bytes (row: readonly number[]): Buffer {
  const bytes = Buffer.alloc(row.length * 4)
  row.forEach((value, i) => bytes.writeFloatLE(value, i * 4))
  return bytes
}

/** A ModelInfer request of one row, as the proto loader takes it (int64 as strings). */
export function modelInferRequest (model: BenchModel, row: readonly number[]): Record<string, unknown> {
  return {
    model_name: model.name,
    inputs: [{ name: model.input, datatype: 'FP32', shape: ['1', String(row.length)] }],
    raw_input_contents: [fp32Bytes(row)]
  }
}

/** One serialized ModelInfer request per row: no protobuf work while measuring. */
export function serializedRequests (model: BenchModel, rows: ReadonlyArray<readonly number[]>): Buffer[] {
  const { requestSerialize } = loadInferenceService().ModelInfer
  return rows.map(row => requestSerialize(modelInferRequest(model, row)))
}

export interface GrpcLoadOptions {
  /** host:port, 127.0.0.1 only (load.ts checks). */
  address: string
  /** Bearer token, sent as `authorization` metadata on every call. */
  token: string
  /** Calls kept in flight. */
  inFlight: number
  /** Serialized ModelInfer requests, cycled. */
  requests: Buffer[]
  deadlineMs?: number
}

function nowUs (): number {
  return Number(process.hrtime.bigint() / 1000n)
}

const passThrough = (bytes: Buffer): Buffer => bytes

/** A gRPC status as the report lists it: its name (OK, UNAVAILABLE, …). */
export function statusName (code: number): string {
  return status[code] ?? String(code)
}

/** The channels and the loop: ready() once, run() for the warm-up and again for the measured seconds, close() at the end. */
export class GrpcLoad {
  private readonly clients: Client[]
  private readonly metadata = new Metadata()
  private readonly deadlineMs: number
  private sent = 0

  constructor (private readonly options: GrpcLoadOptions) {
    if (options.requests.length === 0) throw new Error('the gRPC load needs at least one request')
    this.deadlineMs = options.deadlineMs ?? GRPC_DEADLINE_MS
    this.metadata.set('authorization', `Bearer ${options.token}`)
    this.clients = Array.from({ length: channelCount(options.inFlight) }, () =>
      new Client(options.address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }))
  }

  /** Resolves once every channel is connected: onnx-serve listens for gRPC just after it turns ready on HTTP. */
  async ready (timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    await Promise.all(this.clients.map(async client => await new Promise<void>((resolve, reject) => {
      client.waitForReady(deadline, error => {
        if (error === undefined || error === null) resolve()
        else reject(new Error(`gRPC channel to ${this.options.address} not ready after ${timeoutMs / 1000} s: ${error.message}`))
      })
    })))
  }

  /** Keeps the calls in flight for `seconds`, then lets the last ones end; every call's status counted. */
  async run (seconds: number): Promise<LoadResult> {
    const latencies = new LatencyHistogram()
    const codes = new Map<number, number>()
    const cpuBefore = process.cpuUsage()
    const startUs = nowUs()
    const until = performance.now() + seconds * 1000
    await new Promise<void>(resolve => {
      let looping = this.options.inFlight
      const next = (slot: number): void => {
        if (performance.now() >= until) {
          if (--looping === 0) resolve()
          return
        }
        const request = this.options.requests[this.sent++ % this.options.requests.length]
        const started = performance.now()
        this.clients[slot % this.clients.length].makeUnaryRequest(MODEL_INFER_PATH, passThrough, passThrough, request,
          this.metadata.clone(), { deadline: Date.now() + this.deadlineMs }, (error: ServiceError | null) => {
            const code = error === null ? status.OK : error.code
            if (code === status.OK) latencies.record(performance.now() - started)
            codes.set(code, (codes.get(code) ?? 0) + 1)
            next(slot)
          })
      }
      for (let slot = 0; slot < this.options.inFlight; slot++) next(slot)
    })
    const endUs = nowUs()
    const cpu = process.cpuUsage(cpuBefore)
    const elapsed = (endUs - startUs) / 1e6
    const ok = codes.get(status.OK) ?? 0
    const timeouts = codes.get(status.DEADLINE_EXCEEDED) ?? 0
    const answered = [...codes].filter(([code]) => code !== status.DEADLINE_EXCEEDED)
    return {
      startUs,
      endUs,
      seconds: elapsed,
      rps: ok / elapsed,
      ok,
      non2xx: answered.reduce((sum, [code, count]) => sum + (code === status.OK ? 0 : count), 0),
      errors: timeouts,
      timeouts,
      statusCodes: Object.fromEntries(answered.map(([code, count]) => [statusName(code), count])),
      latency: latencies.summary(),
      loadCpu: (cpu.user + cpu.system) / 1e6 / elapsed,
      generator: 'grpc'
    }
  }

  close (): void {
    for (const client of this.clients) client.close()
  }
}
