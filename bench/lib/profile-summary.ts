// Where a .cpuprofile's CPU time went, by request stage: self time of each
// function, grouped by the stage its script (package or project file) or
// name belongs to. Runs on any profile from `node --cpu-prof`:
//
//   node bench/dist/bench/lib/profile-summary.js file.cpuprofile [--from US --to US] [--top N]
//
// --from/--to keep the samples inside a window of CLOCK_MONOTONIC µs (the
// clock of the profile's timestamps), e.g. a load run's measured seconds.

import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

export const STAGES = [
  'HTTP', 'body parse', 'auth', 'rate limit', 'validation', 'decode', 'data plane', 'worker hop', 'inference',
  'serialize', 'log', 'metrics', 'security headers', 'GC', 'program', 'other', 'idle'
] as const
export type Stage = typeof STAGES[number]

export interface CallFrame {
  functionName: string
  url: string
}

export interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}

/** The parts of the .cpuprofile format (V8's Profiler.Profile) read here. */
export interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

// Packages by what they do in a request. Anything else in node_modules is "other".
const PACKAGE_STAGES: Record<string, Stage> = {
  'find-my-way': 'HTTP',
  'light-my-request': 'HTTP',
  'proxy-addr': 'HTTP',
  '@fastify/proxy-addr': 'HTTP',
  'fast-querystring': 'HTTP',
  'secure-json-parse': 'body parse',
  '@fastify/jwt': 'auth',
  'fast-jwt': 'auth',
  mnemonist: 'auth',
  '@fastify/rate-limit': 'rate limit',
  'toad-cache': 'rate limit',
  ajv: 'validation',
  'ajv-formats': 'validation',
  'fast-uri': 'validation',
  '@fastify/ajv-compiler': 'validation',
  'fast-json-stringify': 'serialize',
  '@fastify/fast-json-stringify-compiler': 'serialize',
  pino: 'log',
  'pino-std-serializers': 'log',
  'sonic-boom': 'log',
  'thread-stream': 'log',
  'fast-redact': 'log',
  '@pinojs/redact': 'log',
  'quick-format-unescaped': 'log',
  'safe-stable-stringify': 'log',
  'prom-client': 'metrics',
  bintrees: 'metrics',
  tdigest: 'metrics',
  '@fastify/helmet': 'security headers',
  helmet: 'security headers',
  'onnxruntime-node': 'inference',
  'onnxruntime-common': 'inference'
}

// This project's files (plugins/x, lib/folder/x, schemas/x, without the
// extension), by what they do; the first match wins, so the protocols' TypeBox
// wire schemas are validation before the rest of lib/protocols is decode.
const PROJECT_STAGES: Array<[RegExp, Stage]> = [
  [/^plugins\/auth$|^lib\/auth\/(auth-key|key-set)$/, 'auth'],
  [/^plugins\/(rate-limit|quota)$/, 'rate limit'],
  [/^plugins\/request-log$|^http\/request-log-(controller|line)$/, 'log'],
  [/^plugins\/metrics$|^lib\/metrics\//, 'metrics'],
  [/^plugins\/security$/, 'security headers'],
  [/^plugins\/content-types$|^http\/json-body-parser$|^lib\/json\/parse$/, 'body parse'],
  [/^schemas\/|^lib\/protocols\/[\w-]+\/wire$|^lib\/json\/schema-check$/, 'validation'],
  [/^lib\/(tensors|protocols)\//, 'decode'],
  [/^lib\/runtime\/(dynamic-batcher|placement|inline-sessions|run-cost)$|^lib\/data-plane\//, 'data plane'],
  [/^lib\/runtime\/(inference-pool|pool-thread|worker-messages)$/, 'worker hop'],
  [/^lib\/runtime\/(inference-worker|ort-session)$/, 'inference']
]

// Node's own modules; the rest of node: (events, timers, task queues) take their caller's stage.
const NODE_STAGES: Array<[RegExp, Stage]> = [
  [/^node:(_http_\w+|net|http|stream|internal\/(stream_base_commons|streams\/.*|http|js_stream_socket))$/, 'HTTP'],
  [/^node:(worker_threads|internal\/(worker.*|per_context\/messageport))$/, 'worker hop']
]

// Native functions (no script) that belong to a stage whoever calls them.
const NATIVE_STAGES: Record<string, Stage> = {
  writev: 'HTTP',
  writeBuffer: 'HTTP',
  postMessage: 'worker hop',
  stringify: 'serialize'
}

const SPECIAL_STAGES: Record<string, Stage> = {
  '(garbage collector)': 'GC',
  '(idle)': 'idle',
  '(program)': 'program',
  '(root)': 'other'
}

/** The innermost node_modules package of a script URL, e.g. "@fastify/jwt". */
export function packageOf (url: string): string | undefined {
  const match = /.*\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
  return match?.[1]
}

function fastifyStage (url: string, functionName: string): Stage {
  const file = /\/fastify\/lib\/([\w-]+)\.js$/.exec(url)?.[1] ?? ''
  if (file === 'validation') return 'validation'
  if (file === 'contentTypeParser') return 'body parse'
  if (file.startsWith('logger')) return 'log'
  if (file === 'reply' && functionName === 'serialize') return 'serialize'
  return 'HTTP'
}

/**
 * The stage of a frame, or undefined when it takes its caller's (native
 * functions without a rule, and Node internals such as events and timers).
 */
export function classifyFrame ({ functionName, url }: CallFrame): Stage | undefined {
  if (functionName in SPECIAL_STAGES && url === '') return SPECIAL_STAGES[functionName]
  if (url === '') return NATIVE_STAGES[functionName]
  if (url.startsWith('node:')) return NODE_STAGES.find(([pattern]) => pattern.test(url))?.[1]
  const pkg = packageOf(url)
  if (pkg === 'fastify') return fastifyStage(url, functionName)
  if (pkg !== undefined) return PACKAGE_STAGES[pkg] ?? 'other'
  // lib/ has folders, so the path after the top folder may have several parts;
  // the greedy prefix takes the last top folder in the URL, so that one in the
  // install path (/usr/lib/app/dist/lib/...) is not taken for the project's.
  const file = /.*\/((?:plugins|lib|routes|schemas|http)\/[\w./-]+?)(?:\.[cm]?[jt]s)$/.exec(url)?.[1]
  if (file === undefined) return 'other'
  return PROJECT_STAGES.find(([pattern]) => pattern.test(file))?.[1] ?? 'other'
}

/** Every node's stage: its own, or for frames without one, the nearest caller's. */
export function nodeStages (profile: CpuProfile): Map<number, Stage> {
  const byId = new Map(profile.nodes.map(node => [node.id, node]))
  const childIds = new Set(profile.nodes.flatMap(node => node.children ?? []))
  const stages = new Map<number, Stage>()
  const stack: Array<[number, Stage]> = profile.nodes.filter(node => !childIds.has(node.id)).map(node => [node.id, 'other'])
  while (stack.length > 0) {
    const [id, callerStage] = stack.pop() as [number, Stage]
    const node = byId.get(id)
    if (node === undefined) continue
    const stage = classifyFrame(node.callFrame) ?? callerStage
    stages.set(id, stage)
    for (const child of node.children ?? []) stack.push([child, stage])
  }
  return stages
}

/** Self time of each node in µs, from samples inside [fromUs, toUs]. */
export function selfTimes (profile: CpuProfile, fromUs = -Infinity, toUs = Infinity): Map<number, number> {
  const times = new Map<number, number>()
  let timestamp = profile.startTime
  const stamps = profile.timeDeltas.map(delta => (timestamp += delta))
  for (let i = 0; i < profile.samples.length; i++) {
    // A sample lasts until the next one (the last until the profile ends), as DevTools counts it.
    const duration = (stamps[i + 1] ?? profile.endTime) - stamps[i]
    if (stamps[i] < fromUs || stamps[i] >= toUs || duration <= 0) continue
    times.set(profile.samples[i], (times.get(profile.samples[i]) ?? 0) + duration)
  }
  return times
}

export interface StageTime {
  stage: Stage
  ms: number
  /** Of the non-idle time; undefined for idle itself. */
  percent?: number
}

export interface FunctionTime {
  stage: Stage
  functionName: string
  url: string
  ms: number
}

export interface ProfileSummary {
  totalMs: number
  nonIdleMs: number
  stages: StageTime[]
  top: FunctionTime[]
  /** The window asked for, and whether the profile covers it. */
  window?: { fromUs: number, toUs: number, covered: boolean }
}

export function summarizeProfile (profile: CpuProfile, options: { fromUs?: number, toUs?: number, top?: number } = {}): ProfileSummary {
  const stages = nodeStages(profile)
  const times = selfTimes(profile, options.fromUs, options.toUs)
  const byStage = new Map<Stage, number>(STAGES.map(stage => [stage, 0]))
  const byFunction = new Map<string, FunctionTime>()
  const frames = new Map(profile.nodes.map(node => [node.id, node.callFrame]))
  for (const [id, micros] of times) {
    const stage = stages.get(id) ?? 'other'
    byStage.set(stage, (byStage.get(stage) ?? 0) + micros)
    const frame = frames.get(id) ?? { functionName: '?', url: '' }
    const key = `${stage}\0${frame.functionName}\0${frame.url}`
    const entry = byFunction.get(key) ?? { stage, functionName: frame.functionName || '(anonymous)', url: frame.url, ms: 0 }
    entry.ms += micros / 1000
    byFunction.set(key, entry)
  }
  const totalMs = [...byStage.values()].reduce((sum, micros) => sum + micros, 0) / 1000
  const idleMs = (byStage.get('idle') ?? 0) / 1000
  const nonIdleMs = totalMs - idleMs
  const summary: ProfileSummary = {
    totalMs,
    nonIdleMs,
    stages: STAGES.map(stage => {
      const ms = (byStage.get(stage) ?? 0) / 1000
      return stage === 'idle' ? { stage, ms } : { stage, ms, percent: nonIdleMs > 0 ? (ms / nonIdleMs) * 100 : 0 }
    }),
    top: [...byFunction.values()].filter(entry => entry.stage !== 'idle').sort((a, b) => b.ms - a.ms).slice(0, options.top ?? 15)
  }
  if (options.fromUs !== undefined && options.toUs !== undefined) {
    summary.window = { fromUs: options.fromUs, toUs: options.toUs, covered: profile.startTime <= options.fromUs && profile.endTime >= options.toUs }
  }
  return summary
}

function shortUrl (url: string): string {
  return url.replace(/^file:\/\/.*\/node_modules\//, '').replace(/^file:\/\/.*\/dist\//, '')
}

/** Markdown: the stage table, then the functions with the most self time. */
export function formatProfileSummary (summary: ProfileSummary, title: string): string {
  const lines = [`**${title}**: ${summary.nonIdleMs.toFixed(0)} ms on CPU of ${summary.totalMs.toFixed(0)} ms sampled` +
    (summary.window !== undefined && !summary.window.covered ? ' (the profile does not cover the whole window asked for)' : ''), '',
  '| stage | ms | % of non-idle |', '| --- | ---: | ---: |']
  for (const { stage, ms, percent } of summary.stages) {
    if (ms > 0 || stage !== 'program') lines.push(`| ${stage} | ${ms.toFixed(1)} | ${percent === undefined ? '-' : percent.toFixed(1)} |`)
  }
  lines.push('', '| top self time | stage | ms |', '| --- | --- | ---: |')
  for (const entry of summary.top) {
    lines.push(`| \`${entry.functionName}\` ${shortUrl(entry.url)} | ${entry.stage} | ${entry.ms.toFixed(1)} |`)
  }
  return lines.join('\n') + '\n'
}

function main (): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { from: { type: 'string' }, to: { type: 'string' }, top: { type: 'string', default: '15' } }
  })
  if (positionals.length === 0) throw new Error('usage: profile-summary FILE.cpuprofile... [--from US --to US] [--top N]')
  for (const file of positionals) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
    const summary = summarizeProfile(profile, {
      fromUs: values.from === undefined ? undefined : Number(values.from),
      toUs: values.to === undefined ? undefined : Number(values.to),
      top: Number(values.top)
    })
    process.stdout.write(formatProfileSummary(summary, file) + '\n')
  }
}

if (require.main === module) {
  try {
    main()
  } catch (error) {
    process.stderr.write(`profile-summary: ${(error as Error).message}\n`)
    process.exit(1)
  }
}
