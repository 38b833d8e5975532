import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'

/**
 * CPUs this process may really use: the host's cores capped by the cgroup
 * CPU quota, since a container limited to 2 CPUs on a 64-core host would
 * otherwise start 64 runtime threads that fight for 2.
 */
export function cpuQuota (cpuMaxFile = '/sys/fs/cgroup/cpu.max'): number {
  const cores = availableParallelism()
  try {
    const [quota, period] = readFileSync(cpuMaxFile, 'utf8').trim().split(/\s+/)
    if (quota === 'max') return cores
    const cpus = Math.ceil(Number(quota) / Number(period))
    return Number.isFinite(cpus) && cpus > 0 ? Math.min(cores, cpus) : cores
  } catch {
    return cores
  }
}
