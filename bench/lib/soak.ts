// --soak N: onnx-serve with the small model under 10 connections for N
// seconds, its VmRSS sampled every second: does memory settle or climb?

import { setTimeout as sleep } from 'node:timers/promises'
import { MODELS } from './models'
import { runLoad } from './processes'
import type { BenchResults } from './results'
import { ROW_SEED, startOnnxServe, stopAndScan, type BenchContext } from './run'
import { readRssMb, summarizeSoak } from './stats'

export const SOAK_CONNECTIONS = 10

export async function runSoak (ctx: BenchContext): Promise<NonNullable<BenchResults['soak']>> {
  const seconds = ctx.options.soakSeconds
  const server = await startOnnxServe(ctx, 'small', 'onnx-serve-soak')
  try {
    // Let start-up allocations settle before the idle reading.
    await sleep(1000)
    const idleRssMb = readRssMb(server.pid) ?? NaN
    process.stderr.write(`bench: soak of ${seconds} s at ${SOAK_CONNECTIONS} connections, idle RSS ${idleRssMb.toFixed(1)} MB\n`)
    const { result, rss } = await runLoad({
      url: `http://127.0.0.1:${ctx.port}/predict`,
      kind: 'predict',
      model: MODELS.small,
      connections: SOAK_CONNECTIONS,
      warmupSeconds: ctx.options.warmupSeconds,
      seconds,
      token: ctx.token,
      seed: ROW_SEED
    }, server.pid)
    return { seconds, connections: SOAK_CONNECTIONS, model: MODELS.small.name, load: result, idleRssMb, summary: summarizeSoak(rss), samples: rss }
  } finally {
    await stopAndScan(ctx, server)
  }
}
