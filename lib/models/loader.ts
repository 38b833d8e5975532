// Loading one model's served versions into the runtime: a session per
// version (on the main thread or in every worker), checked and warmed up, or the reason (with the
// fix) it cannot serve. Every reason here may reach a client, so none names
// a path of the server: files are named relative to the repository, the
// repository itself by its role (the log has the rest).

import { createHash } from 'node:crypto'
import { createReadStream, realpathSync } from 'node:fs'
import { readdir, realpath, stat } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { DynamicBatcher } from '../runtime/dynamic-batcher'
import { NotFoundError } from '../errors'
import type { SessionMetadata } from '../runtime/worker-messages'
import type { ModelRuntime } from '../runtime/model-runtime'
import { baseOf, unavailableEntry, type ModelEntry } from './registry'
import { MODEL_FILE, isValidModelName, modelPath, readModelSource, shownPath, type ModelSource } from './repository'
import { describeVersion, type ModelVersion } from './version'
import type { InferenceSpans } from '../tracing/inference-spans'
import { planWarmup, warmUp } from './warmup'

/** Where the loader says what an operator should know but no client needs (pino's and Fastify's loggers fit). */
export interface ModelLog {
  info: (details: Record<string, unknown>, message: string) => void
}

/** Who is told how the served versions are used (the metrics). */
export interface ModelObserver {
  /** A merged batch left for a run: its rows, and how long each of its requests waited in the batcher. */
  batch: (model: ModelVersion, rows: number, waitsMs: number[]) => void
  /** A load of a model is over (at start, through the API or the poll): the entry it left. */
  loaded?: (entry: ModelEntry) => void
  /** A model was unloaded. */
  unloaded?: (name: string) => void
}

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

/**
 * SHA-256 over every file of a version's folder, by relative path and bytes,
 * streamed (a model may be gigabytes). Not model.onnx alone: a model over
 * 2 GB keeps its weights in external data files beside it, and new weights
 * under an unchanged graph must not answer from the old ones' cache entries.
 */
export async function versionDigest (dir: string): Promise<string> {
  const hash = createHash('sha256')
  const files = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter(entry => entry.isFile())
    .map(entry => join(entry.parentPath, entry.name))
    .sort()
  for (const file of files) {
    const name = relative(dir, file)
    hash.update(`${name.length}:${name}:${(await stat(file)).size}:`)
    await pipeline(createReadStream(file), hash, { end: false })
  }
  return hash.digest('hex')
}

/** The real paths of a version folder and of its model folder, each with how a message shows it; the longer first. */
async function realFolders (name: string, versionDir: string, version: string): Promise<Array<[string, string]>> {
  const real = async (dir: string): Promise<string | undefined> => await realpath(dir).catch(() => undefined)
  const [versionReal, modelReal] = await Promise.all([real(versionDir), real(dirname(versionDir))])
  const pairs: Array<[string | undefined, string]> = [[versionReal, shownPath(name, version)], [modelReal, name]]
  return pairs.filter((pair): pair is [string, string] => pair[0] !== undefined && dirname(pair[0]) !== pair[0])
    .sort((a, b) => b[0].length - a[0].length)
}

export class ModelLoader {
  /** Numbers each load's session keys, so a reload never reuses one. */
  private generation = 0
  /**
   * The repository's absolute paths, to take out of messages that name it:
   * as configured, and with its symlinks resolved (usual under Kubernetes,
   * where a mounted volume is a link into a hidden folder, and what the
   * runtime and the file system may name).
   */
  private readonly roots: string[]

  constructor (private readonly runtime: ModelRuntime, private readonly repository: string, private readonly log?: ModelLog, private readonly observer?: ModelObserver,
    private readonly spans?: InferenceSpans) {
    const root = resolve(repository)
    let real = root
    try {
      real = realpathSync(root)
    } catch {
      // Not there (yet): the configured path is all there is to hide.
    }
    // The longer first, so that neither is left half replaced.
    this.roots = [...new Set([root, real])].filter(path => dirname(path) !== path).sort((a, b) => b.length - a.length)
  }

  /** A model folder of the repository, read; NotFoundError when there is none. */
  async readSource (name: string): Promise<ModelSource> {
    const dir = join(this.repository, name)
    const missing = (): NotFoundError => new NotFoundError(
      `model '${name}' is not in the model repository: there is no folder '${name}' in it; put the model at ${shownPath(name, '1', MODEL_FILE)}`)
    // A valid name has no separator and no leading dot: it cannot leave the repository.
    if (!isValidModelName(name)) throw missing()
    try {
      if (!(await stat(dir)).isDirectory()) throw missing()
      return await readModelSource(this.repository, name)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      // Removed between the check and the read, or never there.
      if (code === 'ENOENT' || code === 'ENOTDIR') throw missing()
      throw error
    }
  }

  /**
   * Loads the versions the version policy serves: READY with those that
   * load, UNAVAILABLE when none does; `failed` says why each other one did
   * not. Under `latest`, a version that cannot load gives way to the next
   * older one that can: a broken new file never takes a model down (Triton
   * would leave it unavailable). `attempted` gets each session key tried,
   * for the caller to release the ones the outcome does not keep.
   */
  async loadVersions (source: ModelSource, attempted: string[]): Promise<ModelEntry> {
    if (source.error !== undefined) return this.unavailable(source, source.error)
    const loaded = new Map<number, ModelVersion>()
    const failed = new Map<number, string>()
    const attempt = async (version: number): Promise<void> => {
      // A new key per load: a reload never swaps the session under requests
      // that were checked against the old one's inputs.
      const key = `${source.name}/${version}#${++this.generation}`
      attempted.push(key)
      try {
        loaded.set(version, await this.loadVersion(source, version, key))
      } catch (error) {
        failed.set(version, this.withoutRoot((error as Error).message))
      }
    }
    for (const version of source.served) await attempt(version)
    const policy = source.config.version_policy ?? 'latest'
    if (policy !== 'all' && !Array.isArray(policy)) {
      for (const version of [...source.versions].reverse()) {
        if (loaded.size >= source.served.length) break
        if (!loaded.has(version) && !failed.has(version)) await attempt(version)
      }
    }
    const failures = failed.size === 0 ? {} : { failed }
    if (loaded.size === 0) return { ...this.unavailable(source, [...failed.values()].join('; ')), ...failures }
    return { ...baseOf(source), state: 'READY', loaded, ...failures }
  }

  private unavailable (source: ModelSource, reason: string): ModelEntry {
    return unavailableEntry(source, this.withoutRoot(reason))
  }

  /**
   * The last guard for reasons carrying text from elsewhere (onnxruntime, the
   * file system): a path inside the repository is shown relative to it and
   * the repository's own path by its role, since absolute paths tell a
   * client about the host.
   */
  private withoutRoot (text: string): string {
    // A repository at the file system root has no prefix worth taking out (filtered above).
    for (const root of this.roots) text = text.split(root + sep).join('').split(root).join('the model repository')
    return text
  }

  private async loadVersion (source: ModelSource, version: number, key: string): Promise<ModelVersion> {
    const path = modelPath(source, version)
    let metadata: SessionMetadata
    try {
      metadata = await this.runtime.load(key, path, source.config.placement)
    } catch (error) {
      // onnxruntime names the file by the absolute path it was given, and
      // files beside it (external data) by their real path, which for a
      // model or version folder symlinked out of the repository is outside it.
      let failure = (error as Error).message.split(path).join(shownPath(source.name, String(version), MODEL_FILE))
      for (const [real, shown] of await realFolders(source.name, dirname(path), String(version))) failure = failure.split(real).join(shown)
      throw new Error(`version ${version}: ${explainLoadFailure(failure)}`)
    }
    const loaded = describeVersion(source, version, key, metadata)
    // Cache entries are tied to these exact bytes: a changed file never answers from the old one's.
    if (source.config.cache === true) loaded.digest = await versionDigest(dirname(path))
    loaded.batcher = this.batcherFor(loaded)
    const plan = planWarmup(loaded)
    if (plan.unguessable.length > 0) {
      this.log?.info({ model: source.name, version, dynamicDimensions: plan.unguessable },
        `model '${source.name}' version ${version}: warm-up skipped, its dynamic dimensions beyond the batch (${plan.unguessable.join(', ')}) cannot be guessed; add a warmup to its config.json to warm it up`)
    }
    await warmUp(this.runtime, loaded, plan)
    return loaded
  }

  // Merging requests needs a dynamic batch dimension on every input and output.
  private batcherFor (model: ModelVersion): DynamicBatcher | undefined {
    const { config, key } = model
    const maxBatchSize = config.max_batch_size ?? 0
    if (config.dynamic_batching === undefined || maxBatchSize === 0) return undefined
    const batchable = [...model.inputs, ...model.outputs].every(spec => spec.shape[0] === -1)
    if (!batchable) return undefined
    const { observer, runtime, spans } = this
    return new DynamicBatcher((feeds, fetches, deadline) => runtime.run(key, feeds, fetches, deadline), {
      maxBatchSize,
      maxQueueDelayMs: config.dynamic_batching.max_queue_delay_ms ?? 0,
      preferredBatchSize: config.dynamic_batching.preferred_batch_size,
      maxConcurrentBatches: () => runtime.concurrency(key),
      onBatch: (rows, waitsMs, tags) => {
        for (const ms of waitsMs) model.statistics.queued(ms)
        observer?.batch(model, rows, waitsMs)
        spans?.queued(tags, waitsMs)
      },
      onExecuted: (rows, times, tags) => {
        model.statistics.executed(rows, tags.length, times)
        spans?.executed(tags, rows, times)
      }
    })
  }
}
