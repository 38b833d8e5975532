// --cache: onnx-serve with the small model's prediction cache on, 10
// connections, the same row on every request (every answer a hit) beside a
// new row on every request (every answer a miss: the key's hash and the
// store's write on top of the inference). The hits and misses each run
// really had are read from the server's /metrics.

import { MODELS } from './models'
import { runLoad } from './processes'
import type { BenchResults, CacheRun } from './results'
import { ROW_SEED, startOnnxServe, stopAndScan, type BenchContext } from './run'
import { cacheLookups } from './stats'

export const CACHE_CONNECTIONS = 10

export async function runCache (ctx: BenchContext): Promise<NonNullable<BenchResults['cache']>> {
  const server = await startOnnxServe(ctx, 'small', 'onnx-serve-cache')
  const lookups = async (): Promise<{ hit: number, miss: number }> =>
    cacheLookups(await (await fetch(`http://127.0.0.1:${ctx.port}/metrics`)).text())
  const runs: CacheRun[] = []
  try {
    for (const rows of ['unique', 'same'] as const) {
      const before = await lookups()
      const { result, rss } = await runLoad({
        url: `http://127.0.0.1:${ctx.port}/predict`,
        kind: 'predict',
        model: MODELS.small,
        connections: CACHE_CONNECTIONS,
        warmupSeconds: ctx.options.warmupSeconds,
        seconds: ctx.options.seconds,
        token: ctx.token,
        seed: ROW_SEED,
        rows
      }, server.pid)
      const after = await lookups()
      const path = rows === 'same' ? 'hit' : 'miss'
      process.stderr.write(`bench: cache ${path} path: ${result.rps.toFixed(0)} req/s, p99 ${result.latency.p99.toFixed(2)} ms\n`)
      runs.push({
        path,
        load: result,
        peakRssMb: Math.max(...rss.map(sample => sample.rssMb)),
        // Warm-up included: the counters cannot tell it from the measured run.
        hits: after.hit - before.hit,
        misses: after.miss - before.miss
      })
    }
  } finally {
    await stopAndScan(ctx, server)
  }
  return { model: MODELS.small.name, connections: CACHE_CONNECTIONS, runs }
}
