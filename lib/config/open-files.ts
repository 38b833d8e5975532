import { readFileSync } from 'node:fs'

/**
 * The soft limit on this process's open files (RLIMIT_NOFILE), from
 * /proc/self/limits; undefined where it cannot be read. Node has no API for it.
 */
export function openFilesLimit (limitsFile = '/proc/self/limits'): number | undefined {
  try {
    const line = readFileSync(limitsFile, 'utf8').split('\n').find(text => text.startsWith('Max open files'))
    const soft = Number(line?.split(/\s{2,}/)[1])
    return Number.isSafeInteger(soft) && soft > 0 ? soft : undefined
  } catch {
    return undefined
  }
}

/**
 * Connections one process accepts at once by default: most of its open
 * files, leaving room for model files, worker threads, Redis and logs. Past
 * the limit the process could not even sample its own memory and would stop.
 */
export function maxConnectionsFor (limit: number | undefined): number {
  return limit === undefined ? 10_000 : Math.max(64, Math.floor(limit * 0.8) - 64)
}
