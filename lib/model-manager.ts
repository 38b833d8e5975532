// The models this server serves: reads the repository, loads each served
// version into the inference pool, warms it up, and answers "which model,
// which version, is it ready" for the HTTP layer. A model that cannot be
// served is kept with its reason; the others serve. Models are loaded and
// unloaded one operation at a time per name. Every reason here may reach a
// client, so none names a path of the server: files are named relative to
// the repository, the repository itself by its role (the log has the rest).

import { stat } from 'node:fs/promises'
import { dirname, join, resolve, sep } from 'node:path'
import { performance } from 'node:perf_hooks'
import { DynamicBatcher } from './dynamic-batcher'
import { NotFoundError, UnavailableError } from './errors'
import type { SessionMetadata } from './inference-protocol'
import type { InferencePool } from './inference-pool'
import { MODEL_FILE, isValidModelName, modelPath, readModelSource, scanModelRepository, shownPath, withoutPath, type ModelSource } from './model-repository'
import { isTensorType, tensorTypes, type TensorMap, type TensorSpec } from './tensor'
import type { ModelConfig } from '../schemas/model-config'

export type ModelState = 'LOADING' | 'READY' | 'UNAVAILABLE' | 'UNLOADING'

export interface UnservedOutput {
  name: string
  reason: string
}

/** One loaded version of a model, ready to run. */
export interface ModelVersion {
  name: string
  version: number
  /** The pool's session key. */
  key: string
  config: ModelConfig
  inputs: TensorSpec[]
  outputs: TensorSpec[]
  unservedOutputs: UnservedOutput[]
  dimNames: SessionMetadata['dimNames']
  /** The output `/predict` returns. */
  predictionOutput: string
  /** Present when config.json asks for dynamic batching and the model allows it. */
  batcher?: DynamicBatcher
  /** Runs in progress on this version; it is released from the pool only at 0. */
  inflight: number
  /**
   * Set once an unload or a reload has let go of this version: a request
   * that got it from get() before then is answered 503 instead of reaching
   * a session that is being released.
   */
  released: boolean
}

/**
 * A model's state as one operation left it. Never changed afterwards: each
 * load and unload puts a new entry in place, so the entry an operation
 * resolves to says what that operation did, whatever ran after it.
 */
export interface ModelEntry {
  readonly name: string
  readonly state: ModelState
  /** Why the model is not ready, with the fix. */
  readonly reason?: string
  readonly config: ModelConfig
  /** Every version in the repository. */
  readonly versions: readonly number[]
  /** Loaded versions, by number; the newest serves by default. */
  readonly loaded: ReadonlyMap<number, ModelVersion>
}

/** What every entry of one model shares, whatever its state. */
type EntryBase = Pick<ModelEntry, 'name' | 'config' | 'versions'>

/** One row of the repository index (Triton's model repository extension). */
export interface RepositoryIndexRow {
  name: string
  /** Absent for a model folder with no version in it. */
  version?: string
  state: ModelState
  /** '' when there is none. */
  reason: string
}

/** The reason of a model unloaded through unload(), as Triton's index gives it. */
export const UNLOADED = 'unloaded'
/** The reason of a model folder that no load has been asked for yet (added after start). */
export const NOT_LOADED = 'not loaded'

export interface ModelManagerOptions {
  repository: string
  /** The model `/predict` serves; default the first in the repository by name. */
  defaultModel?: string
}

const NON_TENSOR_FIX = 'sequence and map outputs (such as skl2onnx\'s ZipMap) cannot be returned; ' +
  're-export with skl2onnx options={id(model): {"zipmap": False}} to get a probability tensor'

/** Turns an onnxruntime load failure into a reason with a fix. */
export function explainLoadFailure (failure: string): string {
  const message = failure.trim().replace(/\.+$/, '')
  if (/unsupported data type|type .* is not supported|bfloat16|float8|int4/i.test(message)) {
    return `${message}. The model uses an element type that onnxruntime-node cannot exchange with JavaScript (bfloat16, float8, int4): re-export it with float32, float16 or another supported type at its inputs and outputs`
  }
  if (/protobuf parsing failed|no graph|failed to load model|invalid protobuf/i.test(message)) {
    return `${message}. The file is not a valid ONNX model: re-export it (torch.onnx.export, skl2onnx.to_onnx) and check it with onnx.checker.check_model`
  }
  if (/opset|ir version|unsupported model ir/i.test(message)) {
    return `${message}. Re-export with an opset and IR version that onnxruntime-node 1.30 supports`
  }
  if (/could not find an implementation|not implemented|no kernel/i.test(message)) {
    return `${message}. The model uses an operator or type the CPU runtime lacks: re-export it with another opset or replace that operator`
  }
  return `${message}. Check that the file is a complete ONNX model that onnxruntime can open`
}

function zeros (spec: TensorSpec): TensorMap[string] {
  const dims = spec.shape.map(dim => dim < 0 ? 1 : dim)
  const length = dims.reduce((count, dim) => count * dim, 1)
  return { type: spec.type, dims, data: tensorTypes[spec.type].create(length) }
}

function baseOf ({ name, config, versions }: EntryBase): EntryBase {
  return { name, config, versions }
}

/** Why the repository could not be listed, without its path (the log line of the failure has it). */
function unreadableRepository (error: unknown): string {
  return `cannot read the model repository: ${withoutPath(error)}; make MODEL_REPOSITORY a readable folder (the server log names the folder)`
}

export class ModelManager {
  private readonly entries = new Map<string, ModelEntry>()
  private scanned = false
  private generation = 0
  private repositoryError?: string
  /** The last operation (load, unload) queued for each model name; never rejects. */
  private readonly operations = new Map<string, Promise<void>>()

  /** The repository's absolute path, to take out of messages that name it. */
  private readonly root: string

  constructor (private readonly pool: InferencePool, private readonly options: ModelManagerOptions) {
    this.root = resolve(options.repository)
  }

  /** Loads every model of the repository. Never throws for one model's fault. */
  async loadAll (): Promise<void> {
    let sources: ModelSource[]
    try {
      sources = await scanModelRepository(this.options.repository)
    } catch (error) {
      this.repositoryError = unreadableRepository(error)
      throw error
    } finally {
      this.scanned = true
    }
    await Promise.all(sources.map(source => this.serialize(source.name, () => this.loadSource(source))))
  }

  /**
   * (Re)loads one model from the repository folder, a folder added after
   * start included. NotFoundError when there is no such folder (the model,
   * if it is loaded, is then left as it is). A model that cannot be served is
   * not an error: the entry says UNAVAILABLE with the reason. The entry is
   * this load's outcome: an unload queued behind it does not change it.
   */
  async load (name: string): Promise<ModelEntry> {
    return this.serialize(name, async () => this.loadSource(await this.readSource(name)))
  }

  /**
   * Stops serving a model: UNLOADING (new requests get 503) while the runs
   * already holding one of its versions finish, then its sessions leave the
   * pool; it stays listed as UNAVAILABLE, reason 'unloaded', until loaded
   * again. NotFoundError for a name neither known nor in the repository; a
   * model folder never loaded has nothing to release.
   */
  async unload (name: string): Promise<ModelEntry> {
    return this.serialize(name, async () => {
      const entry = this.entries.get(name)
      if (entry === undefined) {
        const source = await this.readSource(name)
        return this.unavailable(baseOf(source), NOT_LOADED)
      }
      // The versions stay listed while they drain, so the index shows them UNLOADING.
      this.entries.set(name, { ...baseOf(entry), state: 'UNLOADING', loaded: entry.loaded })
      await this.release([...entry.loaded.values()])
      const unloaded = this.unavailable(baseOf(entry), UNLOADED)
      this.entries.set(name, unloaded)
      return unloaded
    })
  }

  /**
   * Runs `operation` once every operation queued before it for `name` has
   * settled, so a load and an unload of one model never interleave.
   */
  private serialize<T> (name: string, operation: () => Promise<T>): Promise<T> {
    const result = (this.operations.get(name) ?? Promise.resolve()).then(operation)
    const settled = result.then(() => {}, () => {})
    this.operations.set(name, settled)
    settled.then(() => {
      if (this.operations.get(name) === settled) this.operations.delete(name)
    }, () => {})
    return result
  }

  /** A model folder of the repository, read; NotFoundError when there is none. */
  private async readSource (name: string): Promise<ModelSource> {
    const dir = join(this.options.repository, name)
    const missing = (): NotFoundError => new NotFoundError(
      `model '${name}' is not in the model repository: there is no folder '${name}' in it; put the model at ${shownPath(name, '1', MODEL_FILE)}`)
    // A valid name has no separator and no leading dot: it cannot leave the repository.
    if (!isValidModelName(name)) throw missing()
    try {
      if (!(await stat(dir)).isDirectory()) throw missing()
      return await readModelSource(this.options.repository, name)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      // Removed between the check and the read, or never there.
      if (code === 'ENOENT' || code === 'ENOTDIR') throw missing()
      throw error
    }
  }

  /** Stops handing out `versions`, waits for the runs holding them, then frees their sessions. */
  private async release (versions: ModelVersion[]): Promise<void> {
    // Flagged first, so a run that starts while we wait is refused rather than
    // sent after the session is gone; the ones already counted are waited for.
    for (const version of versions) version.released = true
    await Promise.all(versions.map(version => this.drain(version)))
    await Promise.allSettled(versions.map(version => this.pool.unload(version.key)))
  }

  private async loadSource (source: ModelSource): Promise<ModelEntry> {
    const previous = this.entries.get(source.name)
    // A model being reloaded keeps serving its old sessions until the new ones are ready.
    if (previous?.state !== 'READY') this.entries.set(source.name, { ...baseOf(source), state: 'LOADING', loaded: new Map() })
    const attempted: string[] = []
    const entry = source.error === undefined ? await this.loadVersions(source, attempted) : this.unavailable(baseOf(source), source.error)
    this.entries.set(source.name, entry)
    // Release what is not served now: the previous sessions, once the requests
    // already holding them are answered, and after a failure whatever this
    // attempt loaded.
    const kept = new Set([...entry.loaded.values()].map(loaded => loaded.key))
    await this.release([...previous?.loaded.values() ?? []])
    await Promise.allSettled(attempted.filter(key => !kept.has(key)).map(key => this.pool.unload(key)))
    return entry
  }

  /** Loads every served version, READY with all of them or UNAVAILABLE with none; `attempted` gets each session key tried. */
  private async loadVersions (source: ModelSource, attempted: string[]): Promise<ModelEntry> {
    const loaded = new Map<number, ModelVersion>()
    try {
      for (const version of source.served) {
        // A new key per load: a reload never swaps the session under requests
        // that were checked against the old one's inputs.
        const key = `${source.name}/${version}#${++this.generation}`
        attempted.push(key)
        loaded.set(version, await this.loadVersion(source, version, key))
      }
      return { ...baseOf(source), state: 'READY', loaded }
    } catch (error) {
      return this.unavailable(baseOf(source), (error as Error).message)
    }
  }

  /** Waits until no request holds `model` (bounded by the inference timeout's worth of polling). */
  private async drain (model: ModelVersion, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (model.inflight > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
  }

  private unavailable (base: EntryBase, reason: string): ModelEntry {
    return { ...base, state: 'UNAVAILABLE', reason: this.withoutRoot(reason), loaded: new Map() }
  }

  /**
   * The last guard for reasons carrying text from elsewhere (onnxruntime, the
   * file system): a path inside the repository is shown relative to it and
   * the repository's own path by its role, since absolute paths tell a
   * client about the host.
   */
  private withoutRoot (text: string): string {
    // A repository at the file system root has no prefix worth taking out.
    if (dirname(this.root) === this.root) return text
    return text.split(this.root + sep).join('').split(this.root).join('the model repository')
  }

  private async loadVersion (source: ModelSource, version: number, key: string): Promise<ModelVersion> {
    const path = modelPath(source, version)
    let metadata: SessionMetadata
    try {
      metadata = await this.pool.load(key, path)
    } catch (error) {
      // onnxruntime names the file by the absolute path it was given.
      const failure = (error as Error).message.split(path).join(shownPath(source.name, String(version), MODEL_FILE))
      throw new Error(`version ${version}: ${explainLoadFailure(failure)}`)
    }
    const loaded = this.describe(source, version, key, metadata)
    await this.warmUp(loaded)
    return loaded
  }

  private describe (source: ModelSource, version: number, key: string, metadata: SessionMetadata): ModelVersion {
    for (const spec of [...metadata.inputs, ...metadata.outputs]) {
      if (!isTensorType(spec.type)) {
        throw new Error(`version ${version}: '${spec.name}' has element type ${spec.type}, which onnx-serve cannot encode; re-export it with float32, float64, an integer type, bool or string`)
      }
    }
    if (metadata.inputs.length === 0) {
      throw new Error(`version ${version}: the model has no inputs, so there is nothing to predict from`)
    }
    if (metadata.outputs.length === 0) {
      throw new Error(`version ${version}: no tensor output to return; ${NON_TENSOR_FIX}`)
    }
    const outputNames = metadata.outputs.map(output => output.name)
    const predictionOutput = source.config.prediction_output ?? outputNames[0]
    if (!outputNames.includes(predictionOutput)) {
      throw new Error(`config.json: prediction_output '${predictionOutput}' is not a tensor output of version ${version}; outputs: ${outputNames.join(', ')}`)
    }
    return {
      name: source.name,
      version,
      key,
      config: source.config,
      inputs: metadata.inputs,
      outputs: metadata.outputs,
      unservedOutputs: metadata.nonTensorOutputs.map(name => ({ name, reason: NON_TENSOR_FIX })),
      dimNames: metadata.dimNames,
      predictionOutput,
      batcher: this.batcherFor(source.config, key, metadata),
      inflight: 0,
      released: false
    }
  }

  // Merging requests needs a dynamic batch dimension on every input and output.
  private batcherFor (config: ModelConfig, key: string, metadata: SessionMetadata): DynamicBatcher | undefined {
    const maxBatchSize = config.max_batch_size ?? 0
    if (config.dynamic_batching === undefined || maxBatchSize === 0) return undefined
    const batchable = [...metadata.inputs, ...metadata.outputs].every(spec => spec.shape[0] === -1)
    if (!batchable) return undefined
    return new DynamicBatcher((feeds, fetches) => this.pool.run(key, feeds, fetches), {
      maxBatchSize,
      maxQueueDelayMs: config.dynamic_batching.max_queue_delay_ms ?? 0,
      preferredBatchSize: config.dynamic_batching.preferred_batch_size,
      maxConcurrentBatches: this.pool.size
    })
  }

  // One run per worker before readiness, so the first client does not pay
  // for the runtime's lazy allocations.
  private async warmUp (model: ModelVersion): Promise<void> {
    const runs = Array.from({ length: this.pool.size }, () => {
      const feeds = Object.fromEntries(model.inputs.map(spec => [spec.name, zeros(spec)]))
      return this.pool.run(model.key, feeds, model.outputs.map(output => output.name))
    })
    try {
      await Promise.all(runs)
    } catch (error) {
      throw new Error(`version ${model.version}: the warm-up run failed: ${(error as Error).message}`)
    }
  }

  /**
   * Why the server should not receive traffic yet, or undefined when it
   * should: no model is still loading, one at least serves, and so does
   * DEFAULT_MODEL when it is set. A broken model does not hold back the others.
   */
  notReadyReason (): string | undefined {
    if (this.repositoryError !== undefined) return this.repositoryError
    const entries = this.list()
    if (!this.scanned || entries.some(entry => entry.state === 'LOADING')) return 'models are loading'
    const configured = this.options.defaultModel
    if (configured !== undefined) {
      const entry = this.entries.get(configured)
      if (entry === undefined) return `DEFAULT_MODEL '${configured}' is not in the repository`
      if (entry.state !== 'READY') return `DEFAULT_MODEL '${configured}' is ${entry.state.toLowerCase()}: ${entry.reason ?? ''}`
    }
    if (entries.length === 0) return `the model repository holds no model; put one at <name>/1/${MODEL_FILE} in MODEL_REPOSITORY (the server log names the folder)`
    if (!entries.some(entry => entry.state === 'READY')) return 'no model could be loaded; GET /v1/models gives each reason'
    return undefined
  }

  /** DEFAULT_MODEL, or the first model by name that serves (else the first by name). */
  defaultModel (): string | undefined {
    if (this.options.defaultModel !== undefined) return this.options.defaultModel
    const entries = this.list()
    return (entries.find(entry => entry.state === 'READY') ?? entries[0])?.name
  }

  list (): ModelEntry[] {
    return [...this.entries.values()].sort((a, b) => a.name.localeCompare(b.name))
  }

  /**
   * Triton's repository index: one row per version of every model, those in
   * the repository folder now (a folder added after start: UNAVAILABLE, 'not
   * loaded') and those known to the server (still listed when their folder is
   * gone). A model folder without versions gets one row without a version.
   */
  async repositoryIndex (): Promise<RepositoryIndexRow[]> {
    let sources: ModelSource[]
    try {
      sources = await scanModelRepository(this.options.repository)
    } catch (error) {
      throw new UnavailableError(unreadableRepository(error))
    }
    const onDisk = new Map(sources.map(source => [source.name, source.versions]))
    const names = [...new Set([...this.entries.keys(), ...onDisk.keys()])].sort((a, b) => a.localeCompare(b))
    return names.flatMap(name => {
      const entry = this.entries.get(name)
      const versions = [...new Set([...entry?.versions ?? [], ...entry?.loaded.keys() ?? [], ...onDisk.get(name) ?? []])].sort((a, b) => a - b)
      const row = (version: number | undefined): RepositoryIndexRow => {
        const status = entry === undefined ? { state: 'UNAVAILABLE' as const, reason: NOT_LOADED } : this.versionStatus(entry, version)
        return version === undefined ? { name, ...status } : { name, version: String(version), ...status }
      }
      return versions.length === 0 ? [row(undefined)] : versions.map(row)
    })
  }

  private versionStatus (entry: ModelEntry, version: number | undefined): Pick<RepositoryIndexRow, 'state' | 'reason'> {
    if (entry.state === 'LOADING' || entry.state === 'UNAVAILABLE') return { state: entry.state, reason: entry.reason ?? '' }
    if (version !== undefined && entry.loaded.has(version)) return { state: entry.state, reason: '' }
    // A READY (or UNLOADING) model with versions it does not serve.
    if (version !== undefined && entry.versions.includes(version)) {
      return { state: 'UNAVAILABLE', reason: `not served by version_policy ${JSON.stringify(entry.config.version_policy ?? 'latest')}` }
    }
    return { state: 'UNAVAILABLE', reason: `${NOT_LOADED}: the version appeared after the model was loaded; load the model again to serve it` }
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

  /** Runs a ready model; outputs default to every tensor output. */
  async run (model: ModelVersion, feeds: TensorMap, outputs = model.outputs.map(output => output.name)): Promise<{ outputs: TensorMap, ms: number }> {
    if (model.released) {
      throw new UnavailableError(`model '${model.name}' version ${model.version} is no longer loaded (unloaded or replaced by a reload); retry the request`, 1)
    }
    const start = performance.now()
    model.inflight++
    try {
      const result = model.batcher === undefined
        ? await this.pool.run(model.key, feeds, outputs)
        : await model.batcher.submit(feeds, outputs)
      return { outputs: result, ms: Math.round((performance.now() - start) * 1000) / 1000 }
    } finally {
      model.inflight--
    }
  }

  /** Lets the loads and unloads in progress finish, then stops the pool. */
  async close (): Promise<void> {
    await Promise.all(this.operations.values())
    await this.pool.close()
  }
}
