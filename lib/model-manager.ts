// The models this server serves: reads the repository, loads each served
// version into the inference pool, warms it up, and answers "which model,
// which version, is it ready" for the HTTP layer. A model that cannot be
// served is kept with its reason; the others serve.

import { relative } from 'node:path'
import { performance } from 'node:perf_hooks'
import { DynamicBatcher } from './dynamic-batcher'
import { NotFoundError, UnavailableError } from './errors'
import type { SessionMetadata } from './inference-protocol'
import type { InferencePool } from './inference-pool'
import { modelPath, readModelSource, scanModelRepository, type ModelSource } from './model-repository'
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
}

export interface ModelEntry {
  name: string
  state: ModelState
  /** Why the model is not ready, with the fix. */
  reason?: string
  config: ModelConfig
  /** Every version in the repository. */
  versions: number[]
  /** Loaded versions, by number; the newest serves by default. */
  loaded: Map<number, ModelVersion>
}

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

export class ModelManager {
  private readonly entries = new Map<string, ModelEntry>()
  private scanned = false
  private generation = 0
  private repositoryError?: string

  constructor (private readonly pool: InferencePool, private readonly options: ModelManagerOptions) {}

  /** Loads every model of the repository. Never throws for one model's fault. */
  async loadAll (): Promise<void> {
    let sources: ModelSource[]
    try {
      sources = await scanModelRepository(this.options.repository)
    } catch (error) {
      this.repositoryError = this.withoutRoot(`cannot read the model repository ${this.options.repository}: ${(error as Error).message}`)
      throw error
    } finally {
      this.scanned = true
    }
    await Promise.all(sources.map(source => this.loadSource(source)))
  }

  /** (Re)loads one model from the repository folder. */
  async load (name: string): Promise<ModelEntry> {
    return this.loadSource(await readModelSource(this.options.repository, name))
  }

  private async loadSource (source: ModelSource): Promise<ModelEntry> {
    const previous = this.entries.get(source.name)
    const entry: ModelEntry = { name: source.name, state: 'LOADING', config: source.config, versions: source.versions, loaded: new Map() }
    // A model being reloaded keeps serving its old sessions until the new ones are ready.
    if (previous?.state !== 'READY') this.entries.set(source.name, entry)
    const attempted: string[] = []
    if (source.error !== undefined) {
      this.fail(entry, source.error)
    } else {
      try {
        for (const version of source.served) {
          // A new key per load: a reload never swaps the session under requests
          // that were checked against the old one's inputs.
          const key = `${source.name}/${version}#${++this.generation}`
          attempted.push(key)
          entry.loaded.set(version, await this.loadVersion(source, version, key))
        }
        entry.state = 'READY'
      } catch (error) {
        entry.loaded.clear()
        this.fail(entry, (error as Error).message)
      }
    }
    this.entries.set(source.name, entry)
    // Release what is not served now: versions the policy dropped, or everything
    // after a failure, once the requests already holding them are answered.
    const kept = new Set([...entry.loaded.values()].map(loaded => loaded.key))
    await Promise.all([...previous?.loaded.values() ?? []].map(old => this.drain(old)))
    const stale = new Set([...attempted, ...[...previous?.loaded.values() ?? []].map(loaded => loaded.key)])
    await Promise.allSettled([...stale].filter(key => !kept.has(key)).map(key => this.pool.unload(key)))
    return entry
  }

  /** Waits until no request holds `model` (bounded by the inference timeout's worth of polling). */
  private async drain (model: ModelVersion, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (model.inflight > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
  }

  private fail (entry: ModelEntry, reason: string): ModelEntry {
    entry.state = 'UNAVAILABLE'
    entry.reason = this.withoutRoot(reason)
    return entry
  }

  // Absolute paths tell a client about the host; the repository-relative one is enough.
  private withoutRoot (text: string): string {
    return text.split(this.options.repository).join(relative(process.cwd(), this.options.repository) || '.')
  }

  private async loadVersion (source: ModelSource, version: number, key: string): Promise<ModelVersion> {
    let metadata: SessionMetadata
    try {
      metadata = await this.pool.load(key, modelPath(source, version))
    } catch (error) {
      throw new Error(`version ${version}: ${explainLoadFailure((error as Error).message)}`)
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
      inflight: 0
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
    if (entries.length === 0) return `the model repository ${this.options.repository} holds no model`
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

  async close (): Promise<void> {
    await this.pool.close()
  }
}
