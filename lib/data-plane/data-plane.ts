// The one road every API takes to a model (/predict, TF Serving and KServe
// V1, the Open Inference Protocol v2): the framings decode their bodies into
// tensors through the one tensor core (lib/tensor-json) and hand them here;
// this resolves the model version, applies the row limits every API shares,
// runs through the batcher and the worker pool, and hands back the outputs
// with what the request's log line and metrics need.

import { performance } from 'node:perf_hooks'
import { InputError, NotFoundError } from '../errors'
import type { ModelManager, ModelVersion } from '../models/manager'
import { hasBatchDimension } from '../models/version'
import type { CacheOutcome, PredictionCache } from '../cache/prediction-cache'
import type { TensorMap } from '../tensors/tensor'

export interface InferenceLimits {
  /** Rows (the batch dimension) one request may carry, whatever the model allows (MAX_ROWS). */
  maxRows: number
  /** Tensor elements one request may carry across its inputs (MAX_TENSOR_ELEMENTS). */
  maxElements: number
}

/** What the request's log line and the metrics need of an inference. */
export interface InferenceLog {
  model: string
  version: number
  rows: number
  /** Time spent in the batcher and the pool, queueing included (or in the cache). */
  inferenceMs: number
  /** For models with the prediction cache on: whether this answer came from it. */
  cache?: CacheOutcome
}

export interface InferenceResult {
  outputs: TensorMap
  log: InferenceLog
}

export interface RunOptions {
  /** The outputs to fetch; every output when absent. */
  fetches?: string[]
  /** The request field the rows came in, for messages: `input_data`, `instances`, `inputs`. */
  field: string
  /** The framing sends rows, so the first dimension is the batch whatever the model says. */
  rows?: boolean
}

export class InferenceService {
  constructor (readonly models: ModelManager, readonly limits: InferenceLimits, private readonly cache?: PredictionCache) {}

  /** The version a request names, the newest served when it names none; the default model when it names no model. */
  model (name: string | undefined, version?: number): ModelVersion {
    const model = name ?? this.models.defaultModel()
    if (model === undefined) throw new NotFoundError('no model is configured; put one in the model repository or set DEFAULT_MODEL')
    return this.models.get(model, version)
  }

  async run (model: ModelVersion, feeds: TensorMap, options: RunOptions): Promise<InferenceResult> {
    const rows = this.checkRows(model, feeds, options)
    const log = { model: model.name, version: model.version, rows }
    const { cache } = this
    if (cache === undefined || model.config.cache !== true || model.digest === undefined) {
      const { outputs, ms } = await this.models.run(model, feeds, options.fetches)
      return { outputs, log: { ...log, inferenceMs: ms } }
    }
    // An entry holds every output, so /predict (one output), /v1 and /v2 (all,
    // or those named) share it; each takes what it asked for.
    const start = performance.now()
    const all = model.outputs.map(output => output.name)
    const found = await cache.run({ name: model.name, version: model.version, digest: model.digest }, feeds, all,
      async () => (await this.models.run(model, feeds, all)).outputs)
    // A hit is served only while the version it was looked up for still is.
    this.models.checkServed(model)
    const outputs = options.fetches === undefined ? found.outputs : Object.fromEntries(options.fetches.map(name => [name, found.outputs[name]]))
    return { outputs, log: { ...log, inferenceMs: Math.round((performance.now() - start) * 1000) / 1000, cache: found.cache } }
  }

  /**
   * The batch size every input agrees on, within max_batch_size and
   * MAX_ROWS (Triton refuses a batch above max_batch_size with 400). A model
   * has a batch dimension when config.json gives max_batch_size, or when the
   * first dimension of every input is dynamic; otherwise a v2 request is one
   * row (a row framing's rows are its batch, whatever the model says).
   */
  private checkRows (model: ModelVersion, feeds: TensorMap, { field, rows: framedAsRows = false }: RunOptions): number {
    const modelMax = model.config.max_batch_size ?? 0
    if (!framedAsRows && !hasBatchDimension(model)) return 1
    const sizes = model.inputs.map(spec => ({ name: spec.name, rows: feeds[spec.name]?.dims[0] ?? 0 }))
    const rows = sizes[0].rows
    const other = sizes.find(size => size.rows !== rows)
    if (other !== undefined) {
      throw new InputError(field, `${field}: every input must carry the same number of rows (batch size); '${sizes[0].name}' has ${rows}, '${other.name}' has ${other.rows}`)
    }
    const max = modelMax > 0 ? Math.min(modelMax, this.limits.maxRows) : this.limits.maxRows
    if (rows > max) {
      throw new InputError(field, `${field}: at most ${max} ${max === 1 ? 'row' : 'rows'} per request for model '${model.name}', received ${rows}`)
    }
    return rows
  }
}
