// The in-process ceiling, a process of its own that the bench pins to core 0
// like the servers: onnxruntime-node's session.run in a loop, one random row
// per run, no HTTP. One intra-op thread, as each onnx-serve worker session has.
// Prints one JSON line: {"event":"done","result":{...}}.
//
//   node bench/dist/bench/lib/in-process.js '<InProcessConfig as JSON>'

import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import * as ort from 'onnxruntime-node'
import type { BenchModel } from './models'
import { BODY_POOL_SIZE, randomRows } from './scenarios'
import { LatencyHistogram, type LatencySummary } from './stats'

export interface InProcessConfig {
  modelFile: string
  model: BenchModel
  warmupSeconds: number
  seconds: number
  seed: number
}

export interface InProcessResult {
  rps: number
  runs: number
  /** Of one session.run call, in ms. */
  latency: LatencySummary
  /** VmHWM: the process's peak resident memory. */
  peakRssMb: number
}

async function loop (session: ort.InferenceSession, feeds: ort.InferenceSession.FeedsType[], seconds: number, latencies?: LatencyHistogram): Promise<number> {
  const until = performance.now() + seconds * 1000
  let runs = 0
  for (let now = performance.now(); now < until; runs++) {
    await session.run(feeds[runs % feeds.length])
    const after = performance.now()
    latencies?.record(after - now)
    now = after
  }
  return runs
}

async function main (): Promise<void> {
  const config = JSON.parse(process.argv[2]) as InProcessConfig
  const { model } = config
  const session = await ort.InferenceSession.create(config.modelFile, { intraOpNumThreads: 1, interOpNumThreads: 1 })
  const feeds = randomRows(model, BODY_POOL_SIZE, config.seed)
    .map(row => ({ [model.input]: new ort.Tensor('float32', Float32Array.from(row), [1, row.length]) }))
  await loop(session, feeds, config.warmupSeconds)
  const latencies = new LatencyHistogram()
  const started = performance.now()
  const runs = await loop(session, feeds, config.seconds, latencies)
  const elapsed = (performance.now() - started) / 1000
  await session.release()
  const hwm = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))
  const result: InProcessResult = { rps: runs / elapsed, runs, latency: latencies.summary(), peakRssMb: hwm === null ? NaN : Number(hwm[1]) / 1024 }
  process.stdout.write(JSON.stringify({ event: 'done', result }) + '\n')
}

main().catch(error => {
  process.stderr.write(`in-process: ${error instanceof Error ? error.stack : String(error)}\n`)
  process.exit(1)
})
