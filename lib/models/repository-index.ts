// Triton's repository index (the model repository extension): one row per
// version of every model, from what the server holds and what the
// repository folder holds now.

import type { ModelState } from './model-state'
import type { ModelEntry } from './registry'

/** One version of one model, as Triton's index lists it. */
export interface RepositoryIndexRow {
  name: string
  /** Absent for a model folder that holds no version. */
  version?: string
  state: ModelState
  /** Why the version is not ready, with the fix; '' when ready. */
  reason: string
}

/** The reason of a model unloaded through unload(), as Triton's index gives it. */
export const UNLOADED = 'unloaded'
/** The reason of a model folder that no load has been asked for yet (added after start). */
export const NOT_LOADED = 'not loaded'

type VersionStatus = Pick<RepositoryIndexRow, 'state' | 'reason'>

function versionStatus (entry: ModelEntry, version: number | undefined): VersionStatus {
  const failure = version === undefined ? undefined : entry.failed?.get(version)
  if (failure !== undefined) return { state: 'UNAVAILABLE', reason: failure }
  if (entry.state === 'LOADING' || entry.state === 'UNAVAILABLE') return { state: entry.state, reason: entry.reason ?? '' }
  // A READY model's reason is a reload that failed while this version served on.
  if (version !== undefined && entry.loaded.has(version)) return { state: entry.state, reason: entry.reason === undefined ? '' : `serving on; the last load failed: ${entry.reason}` }
  // A READY (or UNLOADING) model with versions it does not serve.
  if (version !== undefined && entry.versions.includes(version)) {
    return { state: 'UNAVAILABLE', reason: `not served by version_policy ${JSON.stringify(entry.config.version_policy ?? 'latest')}` }
  }
  return { state: 'UNAVAILABLE', reason: `${NOT_LOADED}: the version appeared after the model was loaded; load the model again to serve it` }
}

/**
 * The rows for the models the server knows (`entries`, still listed when
 * their folder is gone) and the model folders on disk now (`onDisk`: name →
 * version folders; one never loaded is UNAVAILABLE, 'not loaded'). A model
 * without versions gets one row without a version. Sorted by name, then version.
 */
export function repositoryIndexRows (entries: readonly ModelEntry[], onDisk: ReadonlyMap<string, readonly number[]>): RepositoryIndexRow[] {
  const known = new Map(entries.map(entry => [entry.name, entry]))
  const names = [...new Set([...known.keys(), ...onDisk.keys()])].sort((a, b) => a.localeCompare(b))
  return names.flatMap(name => {
    const entry = known.get(name)
    const versions = [...new Set([...entry?.versions ?? [], ...entry?.loaded.keys() ?? [], ...onDisk.get(name) ?? []])].sort((a, b) => a - b)
    const row = (version: number | undefined): RepositoryIndexRow => {
      const status: VersionStatus = entry === undefined ? { state: 'UNAVAILABLE', reason: NOT_LOADED } : versionStatus(entry, version)
      return version === undefined ? { name, ...status } : { name, version: String(version), ...status }
    }
    return versions.length === 0 ? [row(undefined)] : versions.map(row)
  })
}
