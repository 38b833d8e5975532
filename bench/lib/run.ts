// Runs the scenarios: each ceiling and onnx-serve, one server process at a
// time on core 0, the load on core 1. A ceiling measurement that several
// scenarios share (same rows, same body, same connections, same load
// generator) runs once. In a grpc scenario every target is called over gRPC:
// the ceilings serve ModelInfer on the same port (bench/lib/grpc-ceiling.ts).

import { join } from 'node:path'
import { EnvSchema } from '../../lib/config/env'
import { serverNodeArgs, type BenchOptions } from './args'
import { MLP_SPECS, benchModel, modelFile, type ModelKey } from './models'
import { runInProcess, runLoad, startServer, stopServer, type ServerProcess } from './processes'
import { logIssues } from './server-log'
import type { LogIssue, Run, ScenarioResult } from './results'
import { loadTarget, requestShape, scenarioPath, targetName, type Scenario, type Target } from './scenarios'

/** Every target is sent the same random rows. */
export const ROW_SEED = 7
/** The per-subject quota of a 60 s window: the schema's maximum, far above what a run sends. */
export const RATE_LIMIT_MAX = 10_000_000

export interface BenchContext {
  options: BenchOptions
  root: string
  tmp: string
  logDir: string
  repositories: Record<ModelKey, string>
  port: number
  /** onnx-serve's GRPC_PORT in the runs of a model with grpc scenarios (0: no grpc scenario). */
  grpcPort: number
  token: string
  logIssues: LogIssue[]
}

function progress (message: string): void {
  process.stderr.write(`bench: ${message}\n`)
}

/** The environment of an onnx-serve process: none of the caller's onnx-serve settings leak in. */
export function onnxServeEnv (ctx: BenchContext, model: ModelKey): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const name of Object.keys(EnvSchema.properties)) delete env[name]
  return {
    ...env,
    // No key configured: the development secret the bench's token is signed with.
    NODE_ENV: 'development',
    HOST: '127.0.0.1',
    PORT: String(ctx.port),
    GRPC_PORT: '0',
    MODEL_REPOSITORY: ctx.repositories[model],
    DEFAULT_MODEL: benchModel(model).name,
    INFERENCE_THREADS: String(ctx.options.inferenceThreads),
    INFERENCE_PLACEMENT: ctx.options.placement,
    LOG_LEVEL: 'info',
    RATE_LIMIT_MAX: String(RATE_LIMIT_MAX)
  }
}

export async function startOnnxServe (ctx: BenchContext, model: ModelKey, name: string, nodeArgs: string[] = [], extraEnv: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  return await startServer({
    name,
    node: ctx.options.node,
    nodeArgs: [...serverNodeArgs(ctx.options), ...nodeArgs],
    script: join(ctx.root, 'dist', 'server.js'),
    // A temporary folder: a .env in the project would otherwise be read.
    cwd: ctx.tmp,
    env: { ...onnxServeEnv(ctx, model), ...extraEnv },
    logDir: ctx.logDir,
    port: ctx.port,
    readyUrl: `http://127.0.0.1:${ctx.port}/health/ready`
  })
}

/** GRPC_PORT for a server whose scenarios include grpc ones (its gRPC port then), else 0. */
function grpcEnv (ctx: BenchContext, scenarios: Scenario[]): { GRPC_PORT: string } {
  return { GRPC_PORT: String(scenarios.some(scenario => scenario.generator === 'grpc') ? ctx.grpcPort : 0) }
}

async function startCeiling (ctx: BenchContext, target: 'echo' | 'naive', scenarios: Scenario[], model?: ModelKey): Promise<ServerProcess> {
  const script = target === 'echo' ? 'echo-server.js' : 'naive-server.js'
  return await startServer({
    name: model === undefined ? target : `${target}-${model}`,
    node: ctx.options.node,
    nodeArgs: serverNodeArgs(ctx.options),
    // Compiled beside this file's folder (bench/dist/bench/), not into the production dist/.
    script: join(__dirname, '..', script),
    cwd: ctx.tmp,
    env: { ...process.env, PORT: String(ctx.port), ...grpcEnv(ctx, scenarios), MODEL_PATH: model === undefined ? '' : modelFile(ctx.repositories[model], model) },
    logDir: ctx.logDir,
    port: ctx.port
  })
}

/** Stops a server and keeps its log's warnings and errors for the report. */
export async function stopAndScan (ctx: BenchContext, server: ServerProcess): Promise<void> {
  await stopServer(server)
  ctx.logIssues.push(...await logIssues(server.name, server.logFile, server.readyAt))
}

/** What a model is, for the report. */
function modelShape (key: ModelKey): string {
  if (key === 'iris') return '4→3 (softmax regression)'
  if (key === 'own') return `yours: ${benchModel(key).width} inputs`
  return MLP_SPECS[key].layers.join('→')
}

export async function measureLoad (ctx: BenchContext, server: ServerProcess, target: Exclude<Target, 'in-process'>, scenario: Scenario, seconds = ctx.options.seconds): Promise<Run> {
  const { url, kind, generator } = loadTarget(ctx, target, scenario)
  const { result, rss, cpuMs } = await runLoad({
    url,
    kind,
    model: benchModel(scenario.model),
    connections: scenario.connections,
    warmupSeconds: ctx.options.warmupSeconds,
    seconds,
    token: ctx.token,
    seed: ROW_SEED,
    generator
  }, server.pid)
  progress(`${scenario.id} ${targetName(target, generator)} (${generator}): ${result.rps.toFixed(0)} req/s, p99 ${result.latency.p99.toFixed(2)} ms, ${result.non2xx + result.errors} errors`)
  return {
    target,
    rps: result.rps,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.non2xx + result.errors,
    peakRssMb: Math.max(...rss.map(sample => sample.rssMb)),
    cpuUsPerRequest: cpuMs === undefined ? undefined : cpuMs * 1000 / Math.max(1, result.ok + result.non2xx),
    load: result,
    rss
  }
}

// Runs `measure` once per key; later scenarios with the same key get the first one's run, marked as shared.
class SharedRuns {
  private readonly runs = new Map<string, { owner: string, run: Run }>()

  async get (key: string, scenario: Scenario, measure: () => Promise<Run>): Promise<Run> {
    const known = this.runs.get(key)
    if (known !== undefined) return { ...known.run, sharedWith: known.owner, load: undefined, rss: undefined }
    const run = await measure()
    this.runs.set(key, { owner: scenario.id, run })
    return run
  }
}

function modelsOf (scenarios: Scenario[]): ModelKey[] {
  return [...new Set(scenarios.map(scenario => scenario.model))]
}

/** Runs every scenario's ceilings and onnx-serve; rows come back per scenario, ceilings first. */
export async function runScenarios (ctx: BenchContext, scenarios: Scenario[]): Promise<ScenarioResult[]> {
  const runs = new Map<string, Map<Target, Run>>(scenarios.map(scenario => [scenario.id, new Map()]))
  const shared = new SharedRuns()

  const echo = await startCeiling(ctx, 'echo', scenarios)
  try {
    for (const scenario of scenarios) {
      const { path, kind } = requestShape('echo', scenario)
      // The MLPs get the same 64-float rows: one echo run serves both.
      const rows = scenario.model === 'iris' ? 'iris' : `w${benchModel(scenario.model).width}`
      runs.get(scenario.id)?.set('echo', await shared.get(`${path}|${kind}|${rows}|${scenario.connections}|${scenario.generator}`, scenario, async () => await measureLoad(ctx, echo, 'echo', scenario)))
    }
  } finally {
    await stopAndScan(ctx, echo)
  }

  for (const model of modelsOf(scenarios)) {
    const ofModel = scenarios.filter(scenario => scenario.model === model)
    const inProcess = await shared.get(`in-process|${model}`, ofModel[0], async () => {
      const result = await runInProcess(ctx.options.node, {
        modelFile: modelFile(ctx.repositories[model], model), model: benchModel(model), warmupSeconds: ctx.options.warmupSeconds, seconds: ctx.options.seconds, seed: ROW_SEED
      })
      progress(`${benchModel(model).name} in-process: ${result.rps.toFixed(0)} runs/s, p99 ${result.latency.p99.toFixed(3)} ms`)
      return { target: 'in-process', rps: result.rps, p50: result.latency.p50, p99: result.latency.p99, errors: 0, peakRssMb: result.peakRssMb, cpuUsPerRequest: 1e6 / result.rps, inProcess: result }
    })
    runs.get(ofModel[0].id)?.set('in-process', inProcess)
    for (const scenario of ofModel.slice(1)) runs.get(scenario.id)?.set('in-process', { ...inProcess, sharedWith: ofModel[0].id, inProcess: undefined })

    const naive = await startCeiling(ctx, 'naive', ofModel, model)
    try {
      for (const scenario of ofModel) {
        runs.get(scenario.id)?.set('naive', await shared.get(`naive|${model}|${scenario.connections}|${scenario.generator}`, scenario, async () => await measureLoad(ctx, naive, 'naive', scenario)))
      }
    } finally {
      await stopAndScan(ctx, naive)
    }

    // gRPC listens only in the runs of a model with grpc scenarios: the others run as before.
    const server = await startOnnxServe(ctx, model, `onnx-serve-${model}`, [], grpcEnv(ctx, ofModel))
    try {
      for (const scenario of ofModel) runs.get(scenario.id)?.set('onnx-serve', await measureLoad(ctx, server, 'onnx-serve', scenario))
    } finally {
      await stopAndScan(ctx, server)
    }
  }

  const order: Target[] = ['in-process', 'echo', 'naive', 'onnx-serve']
  return scenarios.map(scenario => ({
    id: scenario.id,
    model: benchModel(scenario.model).name,
    modelShape: modelShape(scenario.model),
    route: scenario.route,
    path: scenarioPath(scenario),
    connections: scenario.connections,
    generator: scenario.generator,
    runs: order.flatMap(target => runs.get(scenario.id)?.get(target) ?? [])
  }))
}

/** Wall-clock seconds a plan takes, roughly: every run's warm-up and measured time, plus server starts (a slow run's longer warm-up, load.ts, is not counted). */
export function estimateSeconds (scenarios: Scenario[], options: Pick<BenchOptions, 'seconds' | 'warmupSeconds' | 'profile'>): number {
  const perRun = options.seconds + options.warmupSeconds
  const echoRuns = new Set(scenarios.map(scenario => `${scenario.route}|${scenario.model === 'iris'}|${scenario.connections}|${scenario.generator}`)).size
  const naiveRuns = new Set(scenarios.map(scenario => `${scenario.model}|${scenario.connections}|${scenario.generator}`)).size
  const models = modelsOf(scenarios).length
  // About 2 s a run goes into starting the load generator and its two autocannon runs; 3 s a server start.
  return (echoRuns + naiveRuns + scenarios.length + models + (options.profile ? 1 : 0)) * (perRun + 2) + (1 + 2 * models) * 3
}
