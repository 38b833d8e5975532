// Turns results into the Markdown table printed and saved, notes on anything
// that makes a row suspect, and the files under bench/results/.

import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { serverNodeArgs } from './args'
import { WARMUP_MAX_SECONDS, WARMUP_MIN_REQUESTS, type Generator } from './load'
import type { BenchResults, Run, ScenarioResult } from './results'
import { GRPC_CALLS_PER_CHANNEL, GRPC_DEADLINE_MS, TARGET_NAMES, targetName, type Target } from './scenarios'
import { formatProfileSummary } from './profile-summary'
import { FLOOR_WINDOW_S } from './stats'

// Past this share of its core, the load generator may be what limits a row.
const LOAD_CPU_WARNING = 0.9
// Below this, a soak's slope is mostly where the GC sawtooth happened to stop.
const SHORT_SOAK_SECONDS = 300

export function fileLabel (date: Date, nodeVersion: string, options: { seconds: number, soakSeconds: number, cache: boolean, profile: boolean, label?: string }): string {
  const pad = (value: number): string => String(value).padStart(2, '0')
  const stamp = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}${pad(date.getMinutes())}`
  const mode = options.soakSeconds > 0 ? `soak${options.soakSeconds}s` : `${options.seconds}s${options.cache ? '-cache' : ''}${options.profile ? '-profile' : ''}`
  return [stamp, `node${nodeVersion.replace(/^v/, '')}`, mode, options.label].filter(part => part !== undefined).join('-')
}

/** How a run compares with a ceiling of the same scenario: undefined when that ceiling was not run. */
export function ratio (run: Run, scenario: ScenarioResult, ceiling: Target): number | undefined {
  const base = scenario.runs.find(candidate => candidate.target === ceiling)
  return base === undefined || base.rps === 0 ? undefined : run.rps / base.rps
}

function ms (value: number): string {
  if (!Number.isFinite(value)) return '-'
  return value < 10 ? value.toFixed(2) : value.toFixed(1)
}

function fixed (value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits)
}

function runName (run: Run, generator: Generator): string {
  const name = run.target === 'in-process' ? `${TARGET_NAMES[run.target]} (latency: one call)` : targetName(run.target, generator)
  return run.sharedWith === undefined ? name : `${name} (run of ${run.sharedWith})`
}

export function markdownTable (scenarios: ScenarioResult[]): string {
  const lines = [
    '| scenario | run | req/s | p50 ms | p99 ms | errors | CPU µs/req | peak RSS MB | vs echo | vs naive | vs in-process |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'
  ]
  for (const scenario of scenarios) {
    const where = `${scenario.id}: ${scenario.model} \`${scenario.path}\`, ${scenario.connections} conn, ${scenario.generator}`
    for (const run of scenario.runs) {
      lines.push(`| ${where} | ${runName(run, scenario.generator)} | ${run.rps.toFixed(0)} | ${ms(run.p50)} | ${ms(run.p99)} | ${run.target === 'in-process' ? '-' : run.errors} | ` +
        `${fixed(run.cpuUsPerRequest, 1)} | ${fixed(run.peakRssMb, 0)} | ${fixed(ratio(run, scenario, 'echo'), 2)} | ${fixed(ratio(run, scenario, 'naive'), 2)} | ${fixed(ratio(run, scenario, 'in-process'), 2)} |`)
    }
  }
  return lines.join('\n') + '\n'
}

/** What makes a row suspect or surprising, in words. */
export function notes (results: BenchResults): string[] {
  const found: string[] = []
  for (const scenario of results.scenarios) {
    for (const run of scenario.runs) {
      if (run.load === undefined || run.sharedWith !== undefined) continue
      const who = `${scenario.id}, ${targetName(run.target, scenario.generator)}`
      if (run.load.loadCpu > LOAD_CPU_WARNING) {
        found.push(`${who}: the load generator used ${(run.load.loadCpu * 100).toFixed(0)}% of its core, so this row may be bounded by ${run.load.generator} rather than the server: a ratio against it says little.`)
      }
      if (run.errors > 0) {
        const codes = Object.entries(run.load.statusCodes).filter(([code]) => !code.startsWith('2') && code !== 'OK').map(([code, count]) => `${count}× ${code}`)
        found.push(`${who}: ${run.errors} errors (${[...codes, `${run.load.errors - run.load.timeouts} socket errors`, `${run.load.timeouts} timeouts`].join(', ')}).`)
      }
      if ((run.load.statusCodes['429'] ?? 0) > 0) found.push(`${who}: the rate limit answered 429; raise RATE_LIMIT_MAX.`)
      // gRPC's status for HTTP's 429 (and 413, which the bench's one-row requests never reach).
      if ((run.load.statusCodes.RESOURCE_EXHAUSTED ?? 0) > 0) found.push(`${who}: the rate limit answered RESOURCE_EXHAUSTED (HTTP's 429); raise RATE_LIMIT_MAX.`)
    }
    const served = scenario.runs.find(run => run.target === 'onnx-serve')
    const inProcess = served === undefined ? undefined : ratio(served, scenario, 'in-process')
    if (inProcess !== undefined && inProcess > 1) {
      found.push(`${scenario.id}: onnx-serve beats the 1-row in-process loop (${inProcess.toFixed(2)}×): dynamic batching runs many rows per session.run.`)
    }
  }
  if (results.logIssues.length > 0) {
    found.push('Server log lines at warn and above, and placement moves (level 30): ' + results.logIssues
      .map(issue => `${issue.process}: ${issue.count}× level ${issue.level} "${issue.msg}"`).join('; ') + '.')
  }
  return found
}

/** onnx-serve over gRPC beside onnx-serve over HTTP: the same model, connections and rows, in the same run. */
export interface TransportPair {
  model: string
  connections: number
  grpcId: string
  httpId: string
  /** The generator of the HTTP run: autocannon or wrk. */
  httpGenerator: Generator
  grpc: Run
  http: Run
}

/** Every grpc scenario's onnx-serve run beside each HTTP run of onnx-serve on `/predict` with the same model and connections. */
export function grpcBesideHttp (scenarios: ScenarioResult[]): TransportPair[] {
  const pairs: TransportPair[] = []
  const served = (scenario: ScenarioResult): Run | undefined => scenario.runs.find(run => run.target === 'onnx-serve')
  for (const overGrpc of scenarios.filter(scenario => scenario.generator === 'grpc')) {
    const grpc = served(overGrpc)
    if (grpc === undefined) continue
    for (const overHttp of scenarios) {
      const http = served(overHttp)
      if (http === undefined || overHttp.generator === 'grpc' || overHttp.route !== 'predict' || overHttp.model !== overGrpc.model || overHttp.connections !== overGrpc.connections) continue
      pairs.push({ model: overGrpc.model, connections: overGrpc.connections, grpcId: overGrpc.id, httpId: overHttp.id, httpGenerator: overHttp.generator, grpc, http })
    }
  }
  return pairs
}

function quotient (top: number | undefined, bottom: number | undefined): number | undefined {
  return top === undefined || bottom === undefined || bottom === 0 ? undefined : top / bottom
}

/** The table of gRPC/HTTP ratios; empty without a pair. */
export function transportTable (pairs: TransportPair[]): string {
  if (pairs.length === 0) return ''
  const lines = [
    '| model | conn | HTTP run | HTTP req/s | gRPC req/s | gRPC/HTTP req/s | HTTP CPU µs/req | gRPC CPU µs/req | gRPC/HTTP CPU | HTTP p99 ms | gRPC p99 ms |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'
  ]
  for (const { model, connections, httpId, httpGenerator, grpc, http } of pairs) {
    lines.push(`| ${model} | ${connections} | ${httpId} (${httpGenerator}) | ${http.rps.toFixed(0)} | ${grpc.rps.toFixed(0)} | ${fixed(quotient(grpc.rps, http.rps), 2)} | ` +
      `${fixed(http.cpuUsPerRequest, 1)} | ${fixed(grpc.cpuUsPerRequest, 1)} | ${fixed(quotient(grpc.cpuUsPerRequest, http.cpuUsPerRequest), 2)} | ${ms(http.p99)} | ${ms(grpc.p99)} |`)
  }
  return lines.join('\n') + '\n'
}

function warmup (seconds: number): string {
  return seconds === 0 ? 'no warm-up' : `${seconds} s warm-up (longer, up to ${WARMUP_MAX_SECONDS} s, until ${WARMUP_MIN_REQUESTS.toLocaleString('en-US')} requests were answered)`
}

function heapSizing (memoryLimitMb: number | undefined): string[] {
  if (memoryLimitMb === undefined) return []
  return [`Every server process (onnx-serve and the ceilings) had its V8 heap sized as Node sizes it in a container with a ${memoryLimitMb} MiB memory limit ` +
    `(\`${serverNodeArgs({ memoryLimitMb }).join(' ')}\`, --memory-limit): peak RSS as in such a pod, not as Node's default on this machine's memory allows.`, '']
}

export function markdownReport (results: BenchResults): string {
  const { settings, node, machine } = results
  const parts = [
    `# onnx-serve bench ${results.label}`,
    '',
    `${results.date}. Servers on Node ${node.server} (\`${node.serverPath}\`), load generator (autocannon, one process on Node ${node.load}, wrk, one thread, or the gRPC loop, @grpc/grpc-js in one process on Node ${node.load}, as each scenario says); ` +
      `${machine.cpu}, ${machine.cores} cores; ${machine.pinned ? 'servers and the in-process loop pinned to core 0, load generator to core 1 (taskset)' : 'NOT pinned (one core)'}. ` +
      (results.soak === undefined ? `Each run: ${warmup(settings.warmupSeconds)}, then ${settings.seconds} s measured` : `${warmup(settings.warmupSeconds)}, then the soak`) +
      '; every request carries one fresh random row (1024 per pool, cycled).',
    '',
    `onnx-serve as shipped: a development-secret JWT bearer token on every request, rate limit on (RATE_LIMIT_MAX=${settings.rateLimitMax} per 60 s window per subject: ` +
      'more than any run here sends, so it never answers 429), request logs at ' +
      `${settings.logLevel} to ${settings.logDestination}, metrics and security headers on, INFERENCE_THREADS=${settings.inferenceThreads}, INFERENCE_PLACEMENT=${settings.placement}.`,
    '',
    ...heapSizing(settings.memoryLimitMb)
  ]
  if (results.scenarios.length > 0) {
    parts.push(markdownTable(results.scenarios),
      'req/s counts 2xx responses only; errors are non-2xx responses, socket errors and timeouts; p50/p99 are of 2xx responses (1 µs resolution; under wrk, of every response, at its own resolution). ' +
      'CPU µs/req is the server process\'s CPU (every thread, /proc) over the measured run divided by its answers: it moves less than req/s ' +
      'when something else shares the machine (in-process: one call of the loop). ' +
      'The echo answers on onnx-serve\'s path with its body; the naive handler gets the same rows as `{"input_data": [row]}` on `/predict`. ' +
      'Ratios divide req/s by the ceiling\'s in the same scenario.' +
      (results.scenarios.some(scenario => scenario.generator === 'grpc')
        ? ' In a `-grpc` scenario every server is called over gRPC (unary ModelInfer, the same rows as FP32 raw_input_contents, the token as metadata, ' +
          `one HTTP/2 channel per ${GRPC_CALLS_PER_CHANNEL} calls in flight): req/s counts OK answers, errors are other statuses and calls past their ${GRPC_DEADLINE_MS / 1000} s deadline; ` +
          'its echo is a bare @grpc/grpc-js server answering with the request\'s own tensors, its naive handler the same server running the row through session.run.'
        : ''), '')
    const pairs = grpcBesideHttp(results.scenarios)
    if (pairs.length > 0) {
      parts.push('## onnx-serve over gRPC beside HTTP', '', transportTable(pairs),
        'The same onnx-serve process, model, rows and requests in flight: HTTP sends `{"input_data": row}` as JSON on `/predict` (a connection per request in flight), ' +
        'gRPC the row as raw FP32 in ModelInfer. gRPC/HTTP above 1 for req/s, or below 1 for CPU µs/req (the steadier of the two on a shared machine), is gRPC doing better.', '')
    }
  }
  if (results.soak !== undefined) {
    const { soak } = results
    parts.push(`## Soak: ${soak.model}, ${soak.connections} connections, ${soak.seconds} s`, '',
      '| idle RSS MB | start MB | peak MB | end MB | slope MB/min (2nd half) | floor slope MB/min | req/s | p99 ms | errors |',
      '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      `| ${soak.idleRssMb.toFixed(1)} | ${soak.summary.startMb.toFixed(1)} | ${soak.summary.peakMb.toFixed(1)} | ${soak.summary.endMb.toFixed(1)} | ` +
        `${fixed(soak.summary.slopeMbPerMin, 2)} | ${fixed(soak.summary.floorSlopeMbPerMin, 2)} | ${soak.load.rps.toFixed(0)} | ${ms(soak.load.latency.p99)} | ${soak.load.non2xx + soak.load.errors} |`, '',
      `${soak.summary.samples} samples of VmRSS, one a second, in the JSON file. The floor slope goes through the lowest sample of each ${FLOOR_WINDOW_S} s ` +
        'of the second half, where the heap returns after a collection: a leak raises it, the rise and fall between collections does not.' +
        // V8's heap grows and is collected in a sawtooth of tens of MB: over seconds, that is all a slope shows.
        (soak.seconds < SHORT_SOAK_SECONDS ? ` A soak this short shows the heap's garbage-collection sawtooth more than a trend: run ${SHORT_SOAK_SECONDS} s or more for a slope that means something.` : ''), '')
  }
  if (results.cache !== undefined) {
    const { cache } = results
    parts.push(`## Prediction cache: ${cache.model} with "cache": true, \`/predict\`, ${cache.connections} connections`, '',
      '| path | rows | req/s | p50 ms | p99 ms | errors | peak RSS MB | hits | misses |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...cache.runs.map(run => `| ${run.path} | ${run.path === 'hit' ? 'the same row every request' : 'a new row every request'} | ` +
        `${run.load.rps.toFixed(0)} | ${ms(run.load.latency.p50)} | ${ms(run.load.latency.p99)} | ${run.load.non2xx + run.load.errors} | ` +
        `${run.peakRssMb.toFixed(0)} | ${run.hits} | ${run.misses} |`), '',
      'hits and misses are the server\'s own onnx_serve_cache_lookups_total over the run and its warm-up; the in-memory store (no REDIS_URL).', '')
  }
  if (results.profile !== undefined) {
    parts.push(`## CPU profile of onnx-serve (small-c10${results.profile.generator === 'grpc' ? ' over gRPC' : ''}, measured window only)`, '',
      `Profiles in \`${results.profile.dir}\`; this run is extra, its numbers are not in the table: ` +
      `${results.profile.load.rps.toFixed(0)} req/s, p99 ${ms(results.profile.load.latency.p99)} ms under the profiler ` +
      '(with INLINE_RUN_MAX_US=20000: the sampling inflates run times past the default bound, and auto placement would otherwise move the model to the worker thread, which the unprofiled run never does).', '')
    for (const thread of results.profile.threads) parts.push(formatProfileSummary(thread.summary, thread.file))
  }
  const found = notes(results)
  if (found.length > 0) parts.push('## Notes', '', ...found.map(note => `- ${note}`), '')
  return parts.join('\n')
}

export interface WrittenFiles {
  json: string
  markdown: string
  svg?: string
}

/** Writes <label>.json, .md and, given a chart, <label>.svg: every file a run's own, none rewritten by the next. */
export function writeResults (outDir: string, results: BenchResults, markdown: string, svg?: string): WrittenFiles {
  mkdirSync(outDir, { recursive: true })
  const base = join(outDir, results.label)
  const files: WrittenFiles = { json: `${base}.json`, markdown: `${base}.md` }
  writeFileSync(files.json, JSON.stringify(results, null, 2) + '\n')
  writeFileSync(files.markdown, markdown)
  if (svg !== undefined) {
    files.svg = `${base}.svg`
    writeFileSync(files.svg, svg)
  }
  return files
}
