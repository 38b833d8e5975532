// Measures onnx-serve beside three ceilings, in one run on this machine:
//   - in-process: onnxruntime-node's session.run in a loop, no HTTP;
//   - a bare Fastify JSON echo: HTTP + JSON parse + serialize, no inference;
//   - a naive handler: ~20 lines of Fastify calling session.run on the event loop;
// for two generated MLPs and the bundled iris model (bench/lib/scenarios.ts),
// and onnx-serve over gRPC beside HTTP for the MLPs (--generators grpc).
// Servers are pinned to core 0 and the load generator (autocannon, its own
// process) to core 1, so the load does not steal the server's CPU. Targets
// 127.0.0.1 only; every run is bounded in time. Writes bench/results/<label>.*
//
//   npm run bench [-- --seconds 10 --scenarios small,large,iris --soak N --cache --profile --node PATH]
//   npm run bench -- --help

import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, cpus, tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { BenchArgsError, USAGE, parseBenchArgs, serverNodeArgs, type BenchOptions } from './lib/args'
import { chartPoints, chartSpec, renderSvg } from './lib/chart'
import { readOwnModel, useOwnModel, writeRepositories, type ModelKey } from './lib/models'
import { pinned, terminateChildren } from './lib/processes'
import { freePort } from '../scripts/free-port'
import { runProfile } from './lib/profile-run'
import { fileLabel, markdownReport, notes, writeResults } from './lib/report'
import type { BenchResults } from './lib/results'
import { RATE_LIMIT_MAX, estimateSeconds, runScenarios, type BenchContext } from './lib/run'
import { describeScenario, scenariosFor } from './lib/scenarios'
import { runCache } from './lib/cache'
import { runSoak } from './lib/soak'
import { findProjectRoot } from '../scripts/build-models'
import { mintToken } from '../lib/auth/token'

function options (root: string): BenchOptions {
  try {
    return parseBenchArgs(process.argv.slice(2), { node: process.execPath, outDir: join(root, 'bench', 'results') })
  } catch (error) {
    if (!(error instanceof BenchArgsError)) throw error
    process.stderr.write(`bench: ${error.message}\n\n${USAGE}`)
    process.exit(2)
  }
}

async function main (): Promise<void> {
  const root = findProjectRoot(__dirname)
  const opts = options(root)
  if (opts.help) {
    process.stdout.write(USAGE)
    return
  }
  if (opts.own !== undefined) {
    try {
      useOwnModel(await readOwnModel(opts.own.repository, opts.own.model))
    } catch (error) {
      process.stderr.write(`bench: ${(error as Error).message}\n`)
      process.exit(2)
    }
  }
  const serverNode = execFileSync(opts.node, ['--version'], { encoding: 'utf8' }).trim()
  const label = fileLabel(new Date(), serverNode, opts)
  const onlyOne = opts.soakSeconds > 0 || opts.cache
  const scenarios = onlyOne ? [] : scenariosFor(opts.groups, opts.smallConnections, opts.generators)
  const models: ModelKey[] = onlyOne || opts.profile ? ['small'] : []
  for (const scenario of scenarios) if (!models.includes(scenario.model)) models.push(scenario.model)

  process.stderr.write(`bench: ${label}: servers on Node ${serverNode} (${opts.node}), load on Node ${process.version}; ` +
    `INFERENCE_THREADS=${opts.inferenceThreads}, INFERENCE_PLACEMENT=${opts.placement}, RATE_LIMIT_MAX=${RATE_LIMIT_MAX} (never reached), logs at info to a file` +
    (opts.memoryLimitMb === undefined ? '' : `; servers' heap as under a ${opts.memoryLimitMb} MiB memory limit (${serverNodeArgs(opts).join(' ')})`) + '\n')
  if (opts.soakSeconds > 0) {
    process.stderr.write(`bench: soak only, ${opts.soakSeconds} s (+${opts.warmupSeconds} s warm-up)\n`)
  } else if (opts.cache) {
    process.stderr.write(`bench: prediction cache only, two runs of ${opts.seconds} s (+${opts.warmupSeconds} s warm-up)\n`)
  } else {
    process.stderr.write(`bench: ${scenarios.length} scenarios, about ${Math.ceil(estimateSeconds(scenarios, opts) / 60)} min: ` +
      scenarios.map(describeScenario).join('; ') + '\n')
  }

  const tmp = mkdtempSync(join(tmpdir(), 'onnx-serve-bench-'))
  const ctx: BenchContext = {
    options: opts,
    root,
    tmp,
    logDir: join(tmp, 'logs'),
    repositories: writeRepositories(join(tmp, 'models'), models, root, opts.cache),
    port: opts.port === 0 ? await freePort() : opts.port,
    grpcPort: 0,
    // Long enough for any run, soak included: an expired token would turn the tail of a run into 401s.
    token: mintToken({ sub: 'bench', scope: 'predict', ttlSeconds: 3600 + opts.soakSeconds + estimateSeconds(scenarios, opts) }, { NODE_ENV: 'development' }),
    logIssues: []
  }
  if (scenarios.some(scenario => scenario.generator === 'grpc')) {
    // onnx-serve's GRPC_PORT in the runs of a model with grpc scenarios: any free port but the HTTP one.
    do ctx.grpcPort = await freePort()
    while (ctx.grpcPort === ctx.port)
  }
  mkdirSync(ctx.logDir)
  const results: BenchResults = {
    label,
    date: new Date().toISOString(),
    node: { server: serverNode, serverPath: opts.node, load: process.version },
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), pinned },
    settings: {
      seconds: opts.seconds,
      warmupSeconds: opts.warmupSeconds,
      inferenceThreads: opts.inferenceThreads,
      placement: opts.placement,
      rateLimitMax: RATE_LIMIT_MAX,
      logLevel: 'info',
      logDestination: opts.keep ? `a file in ${ctx.logDir}` : 'a file (deleted after the run; --keep keeps it)',
      memoryLimitMb: opts.memoryLimitMb
    },
    scenarios: [],
    logIssues: ctx.logIssues,
    notes: []
  }
  try {
    if (opts.soakSeconds > 0) {
      results.soak = await runSoak(ctx)
    } else if (opts.cache) {
      results.cache = await runCache(ctx)
    } else {
      results.scenarios = await runScenarios(ctx, scenarios)
      if (opts.profile) results.profile = await runProfile(ctx, label, opts.generators.length === 1 && opts.generators[0] === 'grpc' ? 'grpc' : 'autocannon')
    }
  } finally {
    if (opts.keep) process.stderr.write(`bench: logs and models kept in ${tmp}\n`)
    else rmSync(tmp, { recursive: true, force: true })
  }

  results.notes = notes(results)
  const markdown = markdownReport(results)
  const points = chartPoints(results)
  const svg = points.length > 0 ? await renderSvg(chartSpec(results, points)) : undefined
  const files = writeResults(opts.outDir, results, markdown, svg)
  process.stdout.write(markdown + '\n')
  process.stdout.write(`Written: ${Object.values(files).map(file => relative(process.cwd(), file)).join(', ')}\n`)
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`bench: ${signal}, stopping the servers\n`)
    terminateChildren()
    process.exit(130)
  })
}

main().catch(error => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`)
  process.exit(1)
})
