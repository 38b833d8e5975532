// The bench's command line. Pure: parsing only, so it is tested without running anything.

import { parseArgs } from 'node:util'
import type { Generator } from './load'
import { DEFAULT_SMALL_CONNECTIONS, SCENARIO_GROUPS, type ScenarioGroup } from './scenarios'

export interface BenchOptions {
  /** Measured seconds per run (after the warm-up). */
  seconds: number
  warmupSeconds: number
  groups: ScenarioGroup[]
  /** The user's model (--repository, --model): the 'own' scenarios measure it. */
  own?: { repository: string, model: string }
  /** The connection sweep of the small model. */
  smallConnections: number[]
  /** The load generators the small, digits and own scenarios run under (grpc: also the large model's). */
  generators: Generator[]
  /** onnx-serve's INFERENCE_THREADS: 1, as its process is pinned to one core. */
  inferenceThreads: number
  /** onnx-serve's INFERENCE_PLACEMENT: auto (as shipped), or forced inline or into the worker threads. */
  placement: 'auto' | 'inline' | 'worker'
  /** The Node binary of the server processes (the load generator always runs on this one). */
  node: string
  /** The servers' V8 heap sized as Node sizes it under a container memory limit of this many MiB (undefined: Node's default for this machine). */
  memoryLimitMb?: number
  /** > 0: a soak of this many seconds instead of the scenarios. */
  soakSeconds: number
  /** Only the prediction cache's hit and miss paths (small model, cache on). */
  cache: boolean
  /** Profile onnx-serve (--cpu-prof) in an extra small-model 10-connection run. */
  profile: boolean
  /** 0: a free port. */
  port: number
  outDir: string
  /** Appended to the results' file names. */
  label?: string
  /** Keep the server logs and the temporary model repository. */
  keep: boolean
  help: boolean
}

export const USAGE = `npm run bench -- [options]

  --seconds N            measured seconds per run (default 10)
  --warmup N             warm-up seconds before each run (default 2)
  --scenarios LIST       comma-separated: ${SCENARIO_GROUPS.join(', ')} (default small,large,iris;
                         own with --model)
  --repository DIR       a model repository of yours (Triton layout, read, never written) and
  --model NAME           a model in it with one float32 input of rows: the 'own' scenarios measure
                         it (newest version) as the small model is, beside the same ceilings
  --connections LIST     the small model's connection sweep (default ${DEFAULT_SMALL_CONNECTIONS.join(',')})
  --generators LIST      load generators of the small and digits scenarios: autocannon, wrk, grpc (default
                         all three; wrk is Debian's package; the other scenarios run under autocannon).
                         grpc: every target over gRPC (ModelInfer, a Node @grpc/grpc-js loop), the ceilings
                         as bare grpc-js servers; it adds large-c64-grpc beside large-c64
  --inference-threads N  onnx-serve's INFERENCE_THREADS (default 1: the server has one core)
  --placement P          onnx-serve's INFERENCE_PLACEMENT: auto, inline or worker (default auto)
  --node PATH            Node binary for the server processes (default: this one)
  --memory-limit MIB     size every server's V8 heap as Node does in a container with this memory
                         limit (--max-old-space-size of a quarter of it): what a pod's limit changes;
                         default: Node's own sizing for this machine's memory
  --soak N               only a soak: small model, 10 connections, N seconds, RSS every second
  --cache                only the prediction cache: small model with "cache": true, 10 connections,
                         the same row on every request (hits) beside a new row on every request (misses)
  --profile              also profile onnx-serve (--cpu-prof) in a small-model 10-connection run
                         (over gRPC when --generators is grpc alone)
  --port N               server port (default 0: a free one)
  --out DIR              results folder (default bench/results)
  --label TEXT           appended to the results' file names
  --keep                 keep the server logs and model repository (their folder is printed)
`

export class BenchArgsError extends Error {}

function integer (name: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new BenchArgsError(`--${name} ${JSON.stringify(value)} is invalid; expected an integer from ${min} to ${max}`)
  }
  return Number(value)
}

function groupList (value: string): ScenarioGroup[] {
  const groups = value.split(',').map(item => item.trim())
  for (const group of groups) {
    if (!(SCENARIO_GROUPS as readonly string[]).includes(group)) {
      throw new BenchArgsError(`--scenarios: unknown scenario ${JSON.stringify(group)}; expected some of ${SCENARIO_GROUPS.join(', ')}`)
    }
  }
  return [...new Set(groups as ScenarioGroup[])]
}

function generatorList (value: string): Generator[] {
  const generators = value.split(',').map(item => item.trim())
  for (const generator of generators) {
    if (generator !== 'autocannon' && generator !== 'wrk' && generator !== 'grpc') throw new BenchArgsError(`--generators: unknown load generator ${JSON.stringify(generator.slice(0, 20))}; expected some of autocannon, wrk, grpc`)
  }
  return [...new Set(generators as Generator[])]
}

function connectionList (value: string): number[] {
  const counts = value.split(',').map(item => integer('connections', item.trim(), 1, 1024))
  return [...new Set(counts)].sort((a, b) => a - b)
}

export function parseBenchArgs (argv: string[], defaults: { node: string, outDir: string }): BenchOptions {
  let values
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        seconds: { type: 'string', default: '10' },
        warmup: { type: 'string', default: '2' },
        scenarios: { type: 'string' },
        connections: { type: 'string', default: DEFAULT_SMALL_CONNECTIONS.join(',') },
        generators: { type: 'string', default: 'autocannon,wrk,grpc' },
        'inference-threads': { type: 'string', default: '1' },
        placement: { type: 'string', default: 'auto' },
        node: { type: 'string', default: defaults.node },
        'memory-limit': { type: 'string' },
        soak: { type: 'string', default: '0' },
        cache: { type: 'boolean', default: false },
        profile: { type: 'boolean', default: false },
        port: { type: 'string', default: '0' },
        out: { type: 'string', default: defaults.outDir },
        label: { type: 'string' },
        keep: { type: 'boolean', default: false },
        repository: { type: 'string' },
        model: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false }
      }
    }))
  } catch (error) {
    throw new BenchArgsError((error as Error).message)
  }
  const soakSeconds = integer('soak', values.soak, 0, 7 * 24 * 3600)
  // The slope is fitted over the second half: fewer than 4 samples say nothing.
  if (soakSeconds > 0 && soakSeconds < 4) throw new BenchArgsError('--soak must be at least 4 seconds: the slope is fitted over the second half of the samples')
  if (soakSeconds > 0 && values.cache) throw new BenchArgsError('--soak and --cache are separate runs: give one of them')
  if (values.label !== undefined && !/^[\w.-]{1,64}$/.test(values.label)) {
    throw new BenchArgsError('--label may hold letters, digits, ".", "_" and "-" only (it goes into file names), at most 64')
  }
  if ((values.repository === undefined) !== (values.model === undefined)) throw new BenchArgsError('--repository and --model go together: a model repository of yours and the name of a model in it')
  const own = values.repository === undefined || values.model === undefined ? undefined : { repository: values.repository, model: values.model }
  if (own === undefined && values.scenarios?.split(',').some(group => group.trim() === 'own') === true) throw new BenchArgsError('--scenarios own measures your model: give --repository DIR --model NAME')
  const placement = values.placement
  if (placement !== 'auto' && placement !== 'inline' && placement !== 'worker') throw new BenchArgsError(`--placement must be auto, inline or worker, not '${placement.slice(0, 20)}'`)
  return {
    seconds: integer('seconds', values.seconds, 1, 3600),
    warmupSeconds: integer('warmup', values.warmup, 0, 600),
    groups: groupList(values.scenarios ?? (own === undefined ? 'small,large,iris' : 'own')),
    own,
    smallConnections: connectionList(values.connections),
    generators: generatorList(values.generators),
    inferenceThreads: integer('inference-threads', values['inference-threads'], 1, 256),
    placement,
    node: values.node,
    memoryLimitMb: values['memory-limit'] === undefined ? undefined : integer('memory-limit', values['memory-limit'], 256, 1024 * 1024),
    soakSeconds,
    cache: values.cache,
    profile: values.profile,
    port: integer('port', values.port, 0, 65535),
    outDir: values.out,
    label: values.label,
    keep: values.keep,
    help: values.help
  }
}

/**
 * The V8 flags of every server process under --memory-limit. Node sizes its
 * heap from the memory it may use, a container's limit if it has one, else
 * the machine's: an old space of a quarter of it (at most 4 GiB). With a
 * large heap V8 lets the old space grow further past its live objects before
 * a full collection (measured under gRPC load: about 4x with the 4 GiB Node
 * gave a 24 GiB machine, 1.5x with 512 MiB), so the same server peaks higher on a large
 * machine than in a pod. --max-old-space-size gives the pod's sizing (V8
 * derives the young generation from it too).
 */
export function serverNodeArgs (options: Pick<BenchOptions, 'memoryLimitMb'>): string[] {
  return options.memoryLimitMb === undefined ? [] : [`--max-old-space-size=${Math.floor(options.memoryLimitMb / 4)}`]
}
