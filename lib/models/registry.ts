// The models the server knows, each as the last load or unload left it:
// which serve, which version a request gets, and whether the server as a
// whole is ready for traffic.

import { NotFoundError, UnavailableError } from '../errors'
import { MODEL_FILE } from './repository'
import type { ModelVersion } from './version'
import type { ModelConfig } from './model-config'
import type { ModelState } from './model-state'

/**
 * A model's state as one operation left it. Never changed afterwards: each
 * load and unload puts a new entry in place, so the entry an operation
 * resolves to says what that operation did, whatever ran after it.
 */
export interface ModelEntry {
  readonly name: string
  readonly state: ModelState
  /** Why the model is not ready, with the fix; for a READY model, why its last load failed while it served on. */
  readonly reason?: string
  readonly config: ModelConfig
  /** Every version in the repository. */
  readonly versions: readonly number[]
  /** Loaded versions, by number; the newest serves by default. */
  readonly loaded: ReadonlyMap<number, ModelVersion>
  /** Versions that the last load tried and could not load, with why (those in `loaded` serve without them). */
  readonly failed?: ReadonlyMap<number, string>
}

/** The versions an entry serves, ascending. */
export function servedVersions (entry: ModelEntry): number[] {
  return [...entry.loaded.keys()].sort((a, b) => a - b)
}

/** Why the load that left `entry` did not serve all it was asked to (the model's reason, or its versions' that failed); undefined when it did. */
export function lastLoadFailure (entry: ModelEntry): string | undefined {
  if (entry.reason !== undefined) return entry.reason
  const failed = [...entry.failed?.values() ?? []]
  if (failed.length > 0) return failed.join('; ')
  return entry.state === 'READY' ? undefined : `the model is ${entry.state.toLowerCase()}`
}

/** What every entry of one model shares, whatever its state. */
export type EntryBase = Pick<ModelEntry, 'name' | 'config' | 'versions'>

export function baseOf ({ name, config, versions }: EntryBase): EntryBase {
  return { name, config, versions }
}

export function unavailableEntry (base: EntryBase, reason: string): ModelEntry {
  return { ...baseOf(base), state: 'UNAVAILABLE', reason, loaded: new Map() }
}

export class ModelRegistry {
  private readonly entries = new Map<string, ModelEntry>()
  /** Counts each model's changes of entry, for validators (ETags) of what is shown about it. */
  private readonly revisions = new Map<string, number>()
  /** Counts every change of the whole set (any entry, the default model), for what is made of all of it. */
  private changes = 0
  private scanned = false
  /** The first load of the repository is over: later loads do not make the server unready. */
  private started = false
  /** Without DEFAULT_MODEL: the first model by name that served after the first load, kept from then on. */
  private chosenDefault?: string
  private repositoryError?: string

  /** `configuredDefault`: DEFAULT_MODEL, when set. */
  constructor (private readonly configuredDefault?: string) {}

  /** The repository has been listed; `error` says why it could not be. */
  repositoryRead (error?: string): void {
    this.scanned = true
    this.repositoryError = error
    this.changes++
  }

  /** The first load of every model has ended, well or not: the default model is chosen now, if one serves. */
  startupLoaded (): void {
    this.started = true
    this.chosenDefault = this.list().find(entry => entry.state === 'READY')?.name
    this.changes++
  }

  set (entry: ModelEntry): void {
    // Nothing served at start: the first model to serve after it becomes the default.
    if (this.started && this.chosenDefault === undefined && entry.state === 'READY') this.chosenDefault = entry.name
    this.entries.set(entry.name, entry)
    this.revisions.set(entry.name, (this.revisions.get(entry.name) ?? 0) + 1)
    this.changes++
  }

  /** How many times the set of models has changed in this process: a view of it made at one count holds until the next. */
  get changeCount (): number {
    return this.changes
  }

  /** How many times `name`'s entry has changed in this process (0: never known). */
  revision (name: string): number {
    return this.revisions.get(name) ?? 0
  }

  /** The entry of `name`, if the server knows it. */
  find (name: string): ModelEntry | undefined {
    return this.entries.get(name)
  }

  /** Every known model, by name. */
  list (): ModelEntry[] {
    return [...this.entries.values()].sort((a, b) => a.name.localeCompare(b.name))
  }

  entry (name: string): ModelEntry {
    const entry = this.entries.get(name)
    if (entry === undefined) throw new NotFoundError(`model '${name}' not found; available models: ${this.list().map(e => e.name).join(', ') || 'none'}`)
    return entry
  }

  /** A ready model version: the given one or the newest served. */
  get (name: string, version?: number): ModelVersion {
    const entry = this.entry(name)
    if (entry.state !== 'READY') {
      throw new UnavailableError(`model '${name}' is ${entry.state.toLowerCase()}${entry.reason === undefined ? '' : `: ${entry.reason}`}`)
    }
    const served = [...entry.loaded.keys()]
    const wanted = version ?? Math.max(...served)
    const loaded = entry.loaded.get(wanted)
    if (loaded === undefined) {
      throw new NotFoundError(`model '${name}' has no served version ${wanted}; served versions: ${served.join(', ')}`)
    }
    return loaded
  }

  /** DEFAULT_MODEL, or the first model by name that serves (else the first by name). */
  defaultModel (): string | undefined {
    if (this.configuredDefault !== undefined) return this.configuredDefault
    // Once the first load is over the choice is kept: a model loaded later
    // whose name sorts first must not change what /predict serves.
    if (this.chosenDefault !== undefined) return this.chosenDefault
    const entries = this.list()
    return (entries.find(entry => entry.state === 'READY') ?? entries[0])?.name
  }

  /**
   * Why the server should not receive traffic yet, or undefined when it
   * should: no model is still loading, one at least serves, and so does
   * DEFAULT_MODEL when it is set. A broken model does not hold back the others.
   */
  notReadyReason (): string | undefined {
    if (this.repositoryError !== undefined) return this.repositoryError
    const entries = this.list()
    // After start a model loading (a new one, or one reloading while its old
    // sessions serve) answers its own requests 503; the others keep the pod ready.
    if (!this.scanned || (!this.started && entries.some(entry => entry.state === 'LOADING'))) return 'models are loading'
    const configured = this.configuredDefault
    if (configured !== undefined) {
      const entry = this.entries.get(configured)
      if (entry === undefined) return `DEFAULT_MODEL '${configured}' is not in the repository`
      if (entry.state !== 'READY') return `DEFAULT_MODEL '${configured}' is ${entry.state.toLowerCase()}: ${entry.reason ?? ''}`
    }
    if (entries.length === 0) return `the model repository holds no model; put one at <name>/1/${MODEL_FILE} in MODEL_REPOSITORY (the server log names the folder)`
    if (!entries.some(entry => entry.state === 'READY')) return 'no model could be loaded; GET /v1/models gives each reason'
    return undefined
  }
}
