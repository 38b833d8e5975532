// The models this server serves: loads the repository into the runtime
// (runtime/placement), loads and unloads models one operation at a time per
// name, and runs them; its registry answers "which model, which version, is
// it ready". A model that cannot be served is kept with its reason; the
// others serve. The jobs live in their own modules: loader (a model's
// versions into the runtime), registry (what is known and ready),
// operation-queue and release (ordering, draining, releasing),
// repository-index (Triton's index rows).

import { UnavailableError } from '../errors'
import type { ModelRuntime, Placement } from '../runtime/model-runtime'
import { TurnGroup } from '../runtime/turn-group'
import { ModelLoader, type ModelLog, type ModelObserver } from './loader'
import { ModelOperationQueue } from './operation-queue'
import { ModelRegistry, baseOf, unavailableEntry, type ModelEntry } from './registry'
import { holding, releaseVersions } from './release'
import { scanModelRepository, unreadableRepository, type ModelSource } from './repository'
import { hasBatchDimension, type ModelVersion } from './version'
import { NOT_LOADED, UNLOADED, repositoryIndexRows, type RepositoryIndexRow } from './repository-index'
import type { TensorMap } from '../tensors/tensor'
import type { InferenceSpans } from '../tracing/inference-spans'

export type { ModelState } from './model-state'
export type { RepositoryIndexRow } from './repository-index'
export type { ModelEntry } from './registry'
export { lastLoadFailure, servedVersions } from './registry'
export type { ModelLog, ModelObserver } from './loader'
export type { ModelVersion, UnservedOutput } from './version'
export { NOT_LOADED, UNLOADED } from './repository-index'

export interface ModelManagerOptions {
  repository: string
  /** The model `/predict` serves; default the first in the repository by name. */
  defaultModel?: string
  /**
   * How long an unload or a reload waits for the runs holding a version
   * before releasing it: INFERENCE_TIMEOUT_MS, by when the pool has answered
   * every run (default the pool's own timeout).
   */
  drainTimeoutMs?: number
  /** Where warm-ups skipped for dynamic dimensions are said. */
  log?: ModelLog
  /** Told of every merged batch (the metrics). */
  observer?: ModelObserver
  /** With tracing on: each run's spans, under the model spans of the requests it served. */
  spans?: InferenceSpans
}

/**
 * Changes to the models go through the manager; what is known and ready
 * is read from its `registry`.
 */
export class ModelManager {
  readonly registry: ModelRegistry
  private readonly loader: ModelLoader
  private readonly operations = new ModelOperationQueue()
  private readonly drainTimeoutMs: number
  private readonly releaseListeners: Array<(versions: ModelVersion[]) => void> = []
  private readonly unbatchedRuns = new TurnGroup()

  constructor (private readonly runtime: ModelRuntime, private readonly options: ModelManagerOptions) {
    this.registry = new ModelRegistry(options.defaultModel)
    this.loader = new ModelLoader(runtime, options.repository, options.log, options.observer, options.spans)
    this.drainTimeoutMs = options.drainTimeoutMs ?? runtime.timeoutMs
  }

  /** Loads every model of the repository. Never throws for one model's fault. */
  async loadAll (): Promise<void> {
    let sources: ModelSource[]
    try {
      sources = await scanModelRepository(this.options.repository)
    } catch (error) {
      this.registry.repositoryRead(unreadableRepository(error))
      throw error
    }
    this.registry.repositoryRead()
    await Promise.all(sources.map(source => this.operations.run(source.name, () => this.loadSource(source))))
    this.registry.startupLoaded()
  }

  /**
   * (Re)loads one model from the repository folder, a folder added after
   * start included. NotFoundError when there is no such folder (the model,
   * if it is loaded, is then left as it is). A model that cannot be served is
   * not an error: the entry says UNAVAILABLE with the reason. The entry is
   * this load's outcome: an unload queued behind it does not change it.
   */
  async load (name: string): Promise<ModelEntry> {
    return this.operations.run(name, async () => this.loadSource(await this.loader.readSource(name)))
  }

  /**
   * Stops serving a model: UNLOADING (new requests get 503) while the runs
   * already holding one of its versions finish, then its sessions leave the
   * pool; it stays listed as UNAVAILABLE, reason 'unloaded', until loaded
   * again. NotFoundError for a name neither known nor in the repository; a
   * model folder never loaded has nothing to release.
   */
  async unload (name: string): Promise<ModelEntry> {
    return this.operations.run(name, async () => {
      const entry = this.registry.find(name)
      if (entry === undefined) return unavailableEntry(await this.loader.readSource(name), NOT_LOADED)
      // The versions stay listed while they drain, so the index shows them UNLOADING.
      this.registry.set({ ...baseOf(entry), state: 'UNLOADING', loaded: entry.loaded })
      await this.release([...entry.loaded.values()])
      const unloaded = unavailableEntry(entry, UNLOADED)
      this.registry.set(unloaded)
      this.options.observer?.unloaded?.(name)
      return unloaded
    })
  }

  /** Triton's repository index: the models known and the model folders of the repository now. */
  async repositoryIndex (): Promise<RepositoryIndexRow[]> {
    let sources: ModelSource[]
    try {
      sources = await scanModelRepository(this.options.repository)
    } catch (error) {
      throw new UnavailableError(unreadableRepository(error))
    }
    return repositoryIndexRows(this.registry.list(), new Map(sources.map(source => [source.name, source.versions])))
  }

  private async loadSource (source: ModelSource): Promise<ModelEntry> {
    const previous = this.registry.find(source.name)
    // A model being reloaded keeps serving its old sessions until the new ones are ready.
    if (previous?.state !== 'READY') this.registry.set({ ...baseOf(source), state: 'LOADING', loaded: new Map() })
    const attempted: string[] = []
    const outcome = await this.loader.loadVersions(source, attempted)
    // A reload that can serve nothing leaves the versions that served before
    // serving, with the failure beside them: availability first.
    const keepPrevious = outcome.state !== 'READY' && previous?.state === 'READY'
    const entry: ModelEntry = keepPrevious ? { ...previous, reason: outcome.reason, failed: outcome.failed ?? new Map() } : outcome
    this.registry.set(entry)
    // Release what is not served now: the previous sessions, once the requests
    // already holding them are answered, and whatever this attempt loaded
    // that does not serve.
    const kept = new Set([...entry.loaded.values()].map(loaded => loaded.key))
    if (!keepPrevious) await this.release([...previous?.loaded.values() ?? []])
    await Promise.allSettled(attempted.filter(key => !kept.has(key)).map(key => this.runtime.unload(key)))
    this.options.observer?.loaded?.(entry)
    return entry
  }

  private async release (versions: ModelVersion[]): Promise<void> {
    await releaseVersions(this.runtime, versions, this.drainTimeoutMs)
    if (versions.length > 0) for (const listener of this.releaseListeners) listener(versions)
  }

  /** Calls `listener` with the versions of each unload or reload, once they are let go. */
  onRelease (listener: (versions: ModelVersion[]) => void): void {
    this.releaseListeners.push(listener)
  }

  /** Where each served version runs: on the main thread (inline) or in the worker threads. */
  placements (): Array<{ model: string, version: number, placement: Placement }> {
    return this.registry.list().flatMap(entry => [...entry.loaded.values()].flatMap(version => {
      const placement = this.runtime.placementOf(version.key)
      return placement === undefined ? [] : [{ model: version.name, version: version.version, placement }]
    }))
  }

  /** Inference threads stuck in runs past INFERENCE_TIMEOUT_MS (set aside, not ended). */
  stuckThreads (): number {
    return this.runtime.stuckThreads
  }

  /** Rows waiting in the batchers, and runs accepted by the runtime and not yet answered. */
  queueDepth (): { batcher: number, workers: number } {
    let batcher = 0
    for (const entry of this.registry.list()) {
      for (const version of entry.loaded.values()) batcher += version.batcher?.queuedRows ?? 0
    }
    return { batcher, workers: this.runtime.pending }
  }

  /** Throws 503 when `model` was let go (unloaded or reloaded) since a request got it. */
  checkServed (model: ModelVersion): void {
    if (model.released) {
      throw new UnavailableError(`model '${model.name}' version ${model.version} is no longer loaded (unloaded or replaced by a reload); retry the request`, 1)
    }
  }

  /**
   * Runs a ready model; outputs default to every tensor output. `trace`: the
   * request's model span (tracing on); `deadline` (Date.now() time): past
   * it, a request still queued is dropped unrun.
   */
  async run (model: ModelVersion, feeds: TensorMap, outputs = model.outputs.map(output => output.name), trace?: unknown, deadline?: number): Promise<TensorMap> {
    this.checkServed(model)
    const { batcher } = model
    if (batcher !== undefined && !batcher.alone) return await holding(model, () => batcher.submit(feeds, outputs, trace, deadline))
    // Unbatched, or a batch of one that skips an idle batcher's queue
    // (runtime/turn-group): one request a run, counted here as the batcher
    // counts its runs; the wait for the end of the turn is its queue.
    const turns = batcher?.turns ?? this.unbatchedRuns
    const queued = performance.now()
    let started = queued
    const run = await holding(model, () => turns.run(() => {
      started = performance.now()
      this.options.spans?.queued([trace], [started - queued])
      return this.runtime.runTimed(model.key, feeds, outputs, deadline)
    }))
    const rows = hasBatchDimension(model) ? Object.values(feeds)[0].dims[0] : 1
    const waitMs = started - queued
    const times = { inputMs: 0, inferMs: run.ms, outputMs: 0 }
    model.statistics.queued(waitMs)
    if (batcher !== undefined) this.options.observer?.batch(model, rows, [waitMs])
    model.statistics.executed(rows, 1, times)
    this.options.spans?.executed([trace], rows, times)
    return run.outputs
  }

  /** Lets the loads and unloads in progress finish, then stops the runtime. */
  async close (): Promise<void> {
    await this.operations.idle()
    await this.runtime.close()
  }
}
