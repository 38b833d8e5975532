// Numbers from samples: latency percentiles, resident memory from /proc, and
// the least-squares slope a soak reports.

import { readFileSync } from 'node:fs'

export interface LatencySummary {
  count: number
  mean: number
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
}

const MICROS_PER_MS = 1000
// 1 µs buckets up to 1 s: 4 MB, exact enough, and bounded however long a soak runs.
const BUCKETS = 1_000_000

/** Latencies (ms) at 1 µs resolution; slower ones are kept as they are (there are few). */
export class LatencyHistogram {
  private readonly counts = new Uint32Array(BUCKETS)
  private readonly slow: number[] = []
  private total = 0
  count = 0

  record (ms: number): void {
    const micros = Math.round(ms * MICROS_PER_MS)
    if (micros < BUCKETS) this.counts[Math.max(0, micros)]++
    else this.slow.push(ms)
    this.total += ms
    this.count++
  }

  /** Nearest-rank percentile (p in 0..100), in ms. */
  percentile (p: number): number {
    if (this.count === 0) return NaN
    const rank = Math.min(this.count, Math.max(1, Math.ceil((p / 100) * this.count)))
    let seen = 0
    for (let micros = 0; micros < BUCKETS; micros++) {
      seen += this.counts[micros]
      if (seen >= rank) return micros / MICROS_PER_MS
    }
    return this.slow.sort((a, b) => a - b)[rank - seen - 1]
  }

  summary (): LatencySummary {
    return {
      count: this.count,
      mean: this.count === 0 ? NaN : this.total / this.count,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
      max: this.percentile(100)
    }
  }
}

/** VmRSS of a /proc/<pid>/status text, in kB; undefined when absent (a zombie has none). */
export function parseVmRss (status: string): number | undefined {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)
  return match === null ? undefined : Number(match[1])
}

/** The resident memory of a live process in MB, or undefined once it is gone. */
export function readRssMb (pid: number): number | undefined {
  try {
    const kb = parseVmRss(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return kb === undefined ? undefined : kb / 1024
  } catch {
    return undefined
  }
}

/** Clock ticks per second of /proc/<pid>/stat's CPU times (USER_HZ: 100 on Linux). */
const USER_HZ = 100

/** CPU time (user + system, all threads) a process has used, in ms; undefined once it is gone. */
export function readCpuMs (pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name is in parentheses and may hold spaces: fields are counted after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 1000 / USER_HZ
  } catch {
    return undefined
  }
}

/** Least-squares slope of y over x; NaN with fewer than two distinct x. */
export function slope (points: Array<{ x: number, y: number }>): number {
  const n = points.length
  const meanX = points.reduce((sum, point) => sum + point.x, 0) / n
  const meanY = points.reduce((sum, point) => sum + point.y, 0) / n
  let covariance = 0
  let variance = 0
  for (const { x, y } of points) {
    covariance += (x - meanX) * (y - meanY)
    variance += (x - meanX) ** 2
  }
  return variance === 0 ? NaN : covariance / variance
}

export interface RssSample {
  /** Seconds since the soak's load started. */
  t: number
  rssMb: number
}

export interface SoakSummary {
  startMb: number
  peakMb: number
  endMb: number
  /** MB per minute, least squares over the second half of the samples (after the heap settled). */
  slopeMbPerMin: number
  /**
   * MB per minute through the lowest sample of each FLOOR_WINDOW_S window of
   * the second half: the floor the heap returns to after each collection. A
   * leak raises it; the garbage-collection sawtooth (tens of MB) does not,
   * wherever the run happens to stop on it. NaN with fewer than two windows.
   */
  floorSlopeMbPerMin: number
  samples: number
}

/** Seconds of a window of the floor slope. */
export const FLOOR_WINDOW_S = 30

function floorSlope (samples: RssSample[]): number {
  const windows = new Map<number, { lowest: RssSample, count: number }>()
  for (const sample of samples) {
    const key = Math.floor(sample.t / FLOOR_WINDOW_S)
    const window = windows.get(key)
    if (window === undefined) windows.set(key, { lowest: sample, count: 1 })
    else {
      window.count++
      if (sample.rssMb < window.lowest.rssMb) window.lowest = sample
    }
  }
  // A window cut short (the run's last seconds) may not reach its floor: left out.
  const floors = [...windows.values()].filter(window => window.count >= FLOOR_WINDOW_S / 2).map(window => window.lowest)
  return slope(floors.map(sample => ({ x: sample.t, y: sample.rssMb }))) * 60
}

export function summarizeSoak (samples: RssSample[]): SoakSummary {
  if (samples.length === 0) throw new Error('no RSS samples: the server process was gone before the soak began')
  const secondHalf = samples.slice(Math.floor(samples.length / 2))
  return {
    startMb: samples[0].rssMb,
    peakMb: Math.max(...samples.map(sample => sample.rssMb)),
    endMb: samples[samples.length - 1].rssMb,
    slopeMbPerMin: slope(secondHalf.map(sample => ({ x: sample.t, y: sample.rssMb }))) * 60,
    floorSlopeMbPerMin: floorSlope(secondHalf),
    samples: samples.length
  }
}

/** onnx_serve_cache_lookups_total by result, from a /metrics text. */
export function cacheLookups (metrics: string): { hit: number, miss: number } {
  const count = (result: string): number => {
    const match = new RegExp(`^onnx_serve_cache_lookups_total\\{[^}]*result="${result}"[^}]*\\} (\\d+)$`, 'm').exec(metrics)
    return match === null ? 0 : Number(match[1])
  }
  return { hit: count('hit'), miss: count('miss') }
}
