// --profile: an extra small-model 10-connection run of onnx-serve under
// `node --cpu-prof` (over HTTP with autocannon, or over gRPC when that is the
// only generator), then each thread's profile summarized by stage over the
// measured seconds only (not start-up, not the warm-up).

import { mkdirSync, readdirSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import type { BenchResults } from './results'
import { measureLoad, startOnnxServe, stopAndScan, type BenchContext } from './run'
import { summarizeProfile, type CpuProfile } from './profile-summary'

// CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile: thread 0 is the main thread.
function threadOf (file: string): number {
  return Number(file.split('.')[4] ?? NaN)
}

export async function runProfile (ctx: BenchContext, label: string, generator: 'autocannon' | 'grpc'): Promise<NonNullable<BenchResults['profile']>> {
  const dir = join(ctx.root, 'bench', 'profiles', label)
  mkdirSync(dir, { recursive: true })
  // The profiler's sampling inflates the measured run times several-fold:
  // under auto placement the small model would move to the worker thread,
  // which the unprofiled run never does. The bound is raised so the profile
  // shows the placement that was measured (with --placement worker, the worker).
  const server = await startOnnxServe(ctx, 'small', 'onnx-serve-profiled', ['--cpu-prof', `--cpu-prof-dir=${dir}`], { INLINE_RUN_MAX_US: '20000', ...(generator === 'grpc' ? { GRPC_PORT: String(ctx.grpcPort) } : {}) })
  let run
  try {
    const id = generator === 'grpc' ? 'small-c10-grpc-profiled' : 'small-c10-profiled'
    run = await measureLoad(ctx, server, 'onnx-serve', { id, model: 'small', connections: 10, route: 'predict', generator })
  } finally {
    // The profiles are written as the process exits, after its graceful shutdown.
    await stopAndScan(ctx, server)
  }
  const load = run.load
  if (load === undefined) throw new Error('the profiled run has no load result')
  // Only this server's: the folder may hold an earlier run's.
  const files = readdirSync(dir).filter(file => file.endsWith('.cpuprofile') && file.split('.')[3] === String(server.pid)).sort((a, b) => threadOf(a) - threadOf(b))
  if (files.length === 0) throw new Error(`no .cpuprofile in ${dir}: did the server exit cleanly?`)
  const threads = []
  for (const file of files) {
    const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile
    const summary = summarizeProfile(profile, { fromUs: load.startUs, toUs: load.endUs, top: 12 })
    threads.push({ file: `${threadOf(file) === 0 ? 'main thread' : `thread ${threadOf(file)}`}: ${file}`, summary })
  }
  return { dir: relative(ctx.root, dir), generator, load, threads }
}
