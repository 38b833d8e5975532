// The shape of a bench run's results, as written to bench/results/<label>.json.

import type { InProcessResult } from './in-process'
import type { Generator, LoadResult } from './load'
import type { ProfileSummary } from './profile-summary'
import type { Route, Target } from './scenarios'
import type { RssSample, SoakSummary } from './stats'

/** One measured run: a target answering one scenario's load (or, for the in-process ceiling, the loop). */
export interface Run {
  target: Target
  /** Requests (or session.run calls) per second; for HTTP targets 2xx responses only. */
  rps: number
  /** ms: of a response under load, or of one session.run call in-process. */
  p50: number
  p99: number
  /** Non-2xx responses plus socket errors and timeouts; 0 in-process. */
  errors: number
  /** Peak VmRSS of the server process while measured (in-process: the process's VmHWM). */
  peakRssMb: number
  /**
   * CPU per answered request, all of the server's threads, in µs: steadier
   * than req/s on a shared machine (in-process: one call, the loop's whole core).
   */
  cpuUsPerRequest?: number
  /** The scenario whose run this is when one measurement serves several (same body, same connections). */
  sharedWith?: string
  load?: LoadResult
  rss?: RssSample[]
  inProcess?: InProcessResult
}

export interface ScenarioResult {
  /** The load generator of every HTTP run of the scenario. */
  generator: Generator
  id: string
  model: string
  /** The model's shape, e.g. 64→256→256→10. */
  modelShape: string
  route: Route
  path: string
  connections: number
  runs: Run[]
}

/** A server process's log lines at warn and above, by message. */
export interface LogIssue {
  process: string
  level: number
  msg: string
  count: number
}

/** One path of the prediction cache: the same row every request (hit) or a new one (miss). */
export interface CacheRun {
  path: 'hit' | 'miss'
  load: LoadResult
  peakRssMb: number
  /** Lookups the server counted during the run and its warm-up (onnx_serve_cache_lookups_total). */
  hits: number
  misses: number
}

export interface BenchResults {
  label: string
  date: string
  node: { server: string, serverPath: string, load: string }
  machine: { cpu: string, cores: number, pinned: boolean }
  settings: {
    seconds: number
    warmupSeconds: number
    inferenceThreads: number
    placement: string
    rateLimitMax: number
    logLevel: string
    logDestination: string
    /** --memory-limit: the servers' V8 heap sized for a container with this limit. */
    memoryLimitMb?: number
  }
  scenarios: ScenarioResult[]
  logIssues: LogIssue[]
  notes: string[]
  soak?: {
    seconds: number
    connections: number
    model: string
    load: LoadResult
    /** Before any load, after readiness. */
    idleRssMb: number
    summary: SoakSummary
    samples: RssSample[]
  }
  cache?: {
    model: string
    connections: number
    runs: CacheRun[]
  }
  profile?: {
    dir: string
    generator: 'autocannon' | 'grpc'
    load: LoadResult
    threads: Array<{ file: string, summary: ProfileSummary }>
  }
}
