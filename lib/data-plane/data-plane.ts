// The data plane: every operation on the server and its models, for every
// protocol and transport (as MLServer's DataPlane is for its REST and gRPC
// servers). A transport turns its wire messages into one call here, passing
// the protocol's codec or view; the data plane resolves the model, runs the
// checks every protocol shares, the cache, the batcher and the pool, and
// fills in the request's facts for the transport's logs and metrics.

import { performance } from 'node:perf_hooks'
import type { Span } from '@opentelemetry/api'
import type { CacheOutcome, PredictionCache } from '../cache/prediction-cache'
import { DeadlineExceededError, InputError, NotFoundError } from '../errors'
import { lastLoadFailure, servedVersions, type ModelManager } from '../models/manager'
import type { RepositoryIndexRow } from '../models/repository-index'
import type { ModelVersion } from '../models/version'
import type { TensorMap } from '../tensors/tensor'
import type { InferCodec, InferenceLimits, InferenceRecord, RequestFacts } from './infer-codec'
import { batchRows } from './batch-rows'
import type { ModelCatalog, ModelRef, ServedModel, ServerInfo } from './views'
import { sumStatistics, type VersionStatistics } from '../stats/model-statistics'
import type { InferenceSpans } from '../tracing/inference-spans'

export interface DataPlaneOptions {
  server: ServerInfo
  limits: InferenceLimits
  /** The prediction cache, for the models whose config.json enables it. */
  cache?: PredictionCache
  /** MODEL_CONTROL_MODE: loads and unloads through the API only when explicit (the default). */
  modelControl?: 'none' | 'explicit' | 'poll'
  /** Why the server as a whole should get no traffic now (shutting down, overloaded), whatever its models say. */
  serverCondition?: () => string | undefined
  /**
   * Inference threads stuck in runs past the deadline at which the process
   * is no longer live (INFERENCE_STUCK_LIMIT): it cannot free them, so only
   * a restart can. Readiness fails at one fewer, so the pod leaves rotation
   * before it is restarted.
   */
  stuckLimit?: number
  /**
   * Told when a probe finds the answer changed: a reason where there was
   * none or another one, or undefined when it is healthy again. Load
   * balancers probe every few seconds: logging each failed probe buried the
   * one line that mattered.
   */
  onHealthChange?: (probe: 'live' | 'ready', reason: string | undefined) => void
  /** With WORKERS > 1: every server process's statistics (localStatistics), this one's included, to be summed. */
  gatherStatistics?: () => Promise<VersionStatistics[][]>
  /** With tracing on: each inference in a model span under the request's, its queue, cache hit and runs too. */
  spans?: InferenceSpans
}

export class DataPlane {
  readonly limits: InferenceLimits

  /** What each probe last answered: undefined while healthy; nothing before the first probe (the start is healthy). */
  private readonly lastHealth = { live: undefined as string | undefined, ready: undefined as string | undefined }

  constructor (private readonly models: ModelManager, private readonly options: DataPlaneOptions) {
    this.limits = options.limits
  }

  server<T> (view: (server: ServerInfo) => T): T {
    return view(this.options.server)
  }

  /** Why the process should be restarted (liveness fails), or undefined while it answers and can serve. */
  notLiveReason (): string | undefined {
    return this.reported('live', this.stuckReason(this.options.stuckLimit))
  }

  /** Why the server should not get traffic now (the readiness of every protocol), or undefined when it should. */
  notReadyReason (): string | undefined {
    const { stuckLimit } = this.options
    return this.reported('ready', this.options.serverCondition?.() ??
      this.stuckReason(stuckLimit === undefined ? undefined : Math.max(1, stuckLimit - 1)) ??
      this.models.registry.notReadyReason())
  }

  private reported (probe: 'live' | 'ready', reason: string | undefined): string | undefined {
    if (reason !== this.lastHealth[probe]) {
      this.lastHealth[probe] = reason
      this.options.onHealthChange?.(probe, reason)
    }
    return reason
  }

  private stuckReason (limit: number | undefined): string | undefined {
    const stuck = this.models.stuckThreads()
    if (limit === undefined || stuck < limit) return undefined
    return `${stuck} inference ${stuck === 1 ? 'thread is' : 'threads are'} stuck in runs past INFERENCE_TIMEOUT_MS (liveness fails at INFERENCE_STUCK_LIMIT=${this.options.stuckLimit})`
  }

  /** Changes whenever the catalog does: a view made at one revision holds until the next. */
  catalogRevision (): number {
    return this.models.registry.changeCount
  }

  /** Every model the server knows. */
  catalog<T> (view: (catalog: ModelCatalog) => T): T {
    const { registry } = this.models
    return view({ entries: registry.list(), defaultModel: registry.defaultModel() })
  }

  /** A model version that serves, seen through `view`: 404 for an unknown model or version, 503 for one not ready. */
  model<T> (ref: ModelRef, view: (served: ServedModel) => T): T {
    const model = this.resolve(ref)
    return view({ entry: this.models.registry.entry(model.name), model, requestedVersion: ref.version })
  }

  /**
   * One inference: `codec` turns the protocol's `payload` into tensors
   * checked against the model; the rows are checked against the limits every
   * protocol shares; the outputs come from the cache, or the batcher and the
   * pool; `codec`'s plan turns them into the protocol's answer. `facts`
   * records the inference for the request's log line and metrics.
   */
  async infer<Payload, Reply> (codec: InferCodec<Payload, Reply>, ref: ModelRef, payload: Payload, facts: RequestFacts): Promise<Reply> {
    const model = this.resolve(ref)
    const { spans } = this.options
    if (spans === undefined) return await this.inferWith(codec, model, payload, facts)
    return await spans.inModelSpan({ model: model.name, version: model.version, requestId: facts.requestId },
      async span => await this.inferWith(codec, model, payload, facts, span))
  }

  /** infer's work, once the model is known; `trace`: its model span, with tracing on. */
  private async inferWith<Payload, Reply> (codec: InferCodec<Payload, Reply>, model: ModelVersion, payload: Payload, facts: RequestFacts, trace?: Span): Promise<Reply> {
    const received = performance.now()
    try {
      const plan = codec(payload, model, this.limits)
      const rows = batchRows(model, plan.feeds, { field: plan.field, rows: plan.rows, maxRows: this.limits.maxRows })
      const fetches = plan.fetches ?? model.outputs.map(output => output.name)
      const start = performance.now()
      const now = Date.now()
      if (facts.deadline !== undefined && now >= facts.deadline) {
        throw new DeadlineExceededError(`the request's deadline passed ${now - facts.deadline} ms before its inference could start`)
      }
      const found = await this.outputs(model, plan.feeds, fetches, facts.deadline, trace)
      const answered = performance.now()
      const inferenceMs = Math.round((answered - start) * 1000) / 1000
      const record: InferenceRecord = { model: model.name, version: model.version, rows, inferenceMs, ...(found.cache === undefined ? {} : { cache: found.cache }) }
      facts.inference = record
      const reply = plan.reply(found.outputs, record)
      const end = performance.now()
      model.statistics.request({ ok: true, cached: found.cache === 'HIT', ms: end - received, decodeMs: start - received, encodeMs: end - answered })
      return reply
    } catch (error) {
      model.statistics.request({ ok: false, cached: false, ms: performance.now() - received, decodeMs: 0, encodeMs: 0 })
      throw error
    }
  }

  /**
   * The statistics of the served versions: of every model, of the model
   * `ref` names or of its version (which must serve, or the usual 404 or
   * 503), summed over the process group with WORKERS > 1.
   */
  async statistics<T> (ref: ModelRef, view: (statistics: VersionStatistics[]) => T): Promise<T> {
    if (ref.name !== undefined) this.resolve(ref)
    const all = this.options.gatherStatistics === undefined ? this.localStatistics() : sumStatistics(await this.options.gatherStatistics())
    const chosen = all.filter(stats => (ref.name === undefined || stats.name === ref.name) && (ref.version === undefined || stats.version === ref.version))
    return view(chosen.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : a.version - b.version))
  }

  /** This process's statistics of every version it serves. */
  localStatistics (): VersionStatistics[] {
    return this.models.registry.list().flatMap(entry => [...entry.loaded.values()].map(version => version.statistics.data))
  }

  /** The model label of metrics: a model this server knows (the default one for none), else 'unknown'. */
  modelLabel (name: string | undefined): string {
    const model = name ?? this.models.registry.defaultModel()
    return model !== undefined && this.models.registry.find(model) !== undefined ? model : 'unknown'
  }

  /** Triton's repository index; `readyOnly`: only the versions that serve. */
  async repositoryIndex (readyOnly = false): Promise<RepositoryIndexRow[]> {
    const rows = await this.models.repositoryIndex()
    return readyOnly ? rows.filter(row => row.state === 'READY') : rows
  }

  /**
   * (Re)loads a model from the repository folder: 400 with the reason when it
   * cannot be served. Triton's load parameters (a config override, files)
   * are refused: the repository folder is the one source of models.
   * `field`: where the transport carries them, for the refusal.
   */
  async load (name: string, parameters: Record<string, unknown> = {}, field = 'body.parameters'): Promise<void> {
    this.refuseUnlessExplicit()
    const given = Object.keys(parameters)
    if (given.length > 0) {
      throw new InputError(field, `${field}: load parameters (${given.join(', ')}) are not supported; put the model and its config.json in the repository folder and send no parameters`)
    }
    // The entry this load resolved to, not the model's entry now: an unload
    // queued behind the load may already have run, and the answer is about the load.
    const outcome = await this.models.load(name)
    const failure = lastLoadFailure(outcome)
    if (failure === undefined) return
    // Serving, but not what was asked for (a version that did not load, or a
    // reload that failed while the versions before served on): an operator
    // loading a new version must hear that it did not load.
    const serving = outcome.state === 'READY' ? `; it serves version ${servedVersions(outcome).join(', ')}` : ''
    throw new InputError('name', `failed to load model '${name}': ${failure}${serving}`)
  }

  async unload (name: string): Promise<void> {
    this.refuseUnlessExplicit()
    await this.models.unload(name)
  }

  /** Loads and unloads through the API are MODEL_CONTROL_MODE=explicit's (as Triton's). */
  private refuseUnlessExplicit (): void {
    const mode = this.options.modelControl ?? 'explicit'
    if (mode === 'explicit') return
    throw new InputError('name', mode === 'poll'
      ? 'explicit model load and unload are not allowed while the repository is polled (MODEL_CONTROL_MODE=poll): change the model repository folder instead'
      : 'explicit model load and unload are not allowed with MODEL_CONTROL_MODE=none: set MODEL_CONTROL_MODE to explicit or poll')
  }

  /** The version a request names, the newest served when it names none; the default model when it names no model. */
  private resolve ({ name, version }: ModelRef): ModelVersion {
    const model = name ?? this.models.registry.defaultModel()
    if (model === undefined) throw new NotFoundError('no model is configured; put one in the model repository or set DEFAULT_MODEL')
    return this.models.registry.get(model, version)
  }

  /** Every fetched output: from the prediction cache for models that enable it, else from a run. */
  private async outputs (model: ModelVersion, feeds: TensorMap, fetches: string[], deadline: number | undefined, trace?: Span): Promise<{ outputs: TensorMap, cache?: CacheOutcome }> {
    const { cache } = this.options
    if (cache === undefined || model.config.cache !== true || model.digest === undefined) {
      return { outputs: await this.models.run(model, feeds, fetches, trace, deadline) }
    }
    // An entry holds every output, so /predict (one output), /v1 and /v2 (all,
    // or those named) share it; each takes what it asked for.
    const all = model.outputs.map(output => output.name)
    const lookup = performance.now()
    let runMs = 0
    const found = await cache.run({ name: model.name, version: model.version, digest: model.digest }, feeds, all, async () => {
      const running = performance.now()
      try {
        return await this.models.run(model, feeds, all, trace, deadline)
      } finally {
        runMs = performance.now() - running
      }
    })
    // The lookup's own time: a miss's run is not the cache's.
    const lookupMs = performance.now() - lookup - runMs
    model.statistics.cacheLookup(found.cache === 'HIT', lookupMs)
    if (found.cache === 'HIT' && trace !== undefined) this.options.spans?.cacheHit(trace, lookupMs)
    // A hit is served only while the version it was looked up for still is.
    this.models.checkServed(model)
    return { outputs: Object.fromEntries(fetches.map(name => [name, found.outputs[name]])), cache: found.cache }
  }
}
