// The prediction cache, at the inference service so that /predict, /v1 and
// /v2 share entries. An entry is keyed by what determines a deterministic
// model's answer and nothing else: the model's name, version and file
// digest, the input tensors (name, type, shape, bytes; hashed) and the
// outputs asked for. Never anything of the request itself (a v2 id, a token).
// Identical requests that arrive while the first is running wait for that
// run. The store (memory or Redis) failing is a miss, never an error.

import { createHash } from 'node:crypto'
import type { CacheClient } from './cache-store'
import { elementCount, tensorTypes, type TensorData, type TensorMap, type TensorType } from '../tensors/tensor'

type NumericArray = Exclude<TensorData['data'], string[]>

/** The identity of a loaded model version, as far as its answers go. */
export interface CacheableModel {
  name: string
  version: number
  /** SHA-256 of the model file: a changed file never answers from the old one's entries. */
  digest: string
}

export type CacheOutcome = 'HIT' | 'MISS'

export interface CachedRun {
  outputs: TensorMap
  cache: CacheOutcome
}

export interface PredictionCacheOptions {
  ttlMs: number
  /** Outputs larger than this, encoded, are not stored. */
  maxEntryBytes: number
}

export const PREDICTION_SEGMENT = 'predictions'

interface EntryHeader {
  key: string
  model: string
  version: number
  digest: string
  outputs: Array<{ name: string, type: TensorType, dims: number[], bytes?: number, strings?: string[] }>
}

function bytesOf (tensor: TensorData): Buffer {
  const data = tensor.data as NumericArray
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
}

/** Where every entry id of a model version starts, so its entries can be dropped together. */
export function versionPrefix (model: { name: string, version: number }): string {
  return `${model.name}/${model.version}/`
}

/** The entry id of `feeds` and `fetches` on `model`: its version's prefix and a SHA-256 over all of them. */
export function predictionKey (model: CacheableModel, feeds: TensorMap, fetches: readonly string[]): string {
  const hash = createHash('sha256')
  const names = Object.keys(feeds).sort()
  // Every variable-length part is preceded by its length, so no two requests hash the same bytes.
  hash.update(JSON.stringify({
    model: model.name,
    version: model.version,
    digest: model.digest,
    fetches: [...fetches].sort(),
    inputs: names.map(name => ({ name, type: feeds[name].type, dims: feeds[name].dims }))
  }))
  for (const name of names) {
    const tensor = feeds[name]
    const bytes = Array.isArray(tensor.data) ? Buffer.from(JSON.stringify(tensor.data)) : bytesOf(tensor)
    hash.update(`\n${bytes.length}\n`)
    hash.update(bytes)
  }
  return versionPrefix(model) + hash.digest('base64url')
}

/** Outputs as one Buffer: a length-prefixed JSON header, then each numeric tensor's bytes. */
export function encodeEntry (key: string, model: CacheableModel, outputs: TensorMap): Buffer {
  const parts: Buffer[] = []
  const header: EntryHeader = { key, model: model.name, version: model.version, digest: model.digest, outputs: [] }
  for (const [name, tensor] of Object.entries(outputs)) {
    if (Array.isArray(tensor.data)) {
      header.outputs.push({ name, type: tensor.type, dims: tensor.dims, strings: tensor.data })
      continue
    }
    const bytes = bytesOf(tensor)
    header.outputs.push({ name, type: tensor.type, dims: tensor.dims, bytes: bytes.length })
    parts.push(bytes)
  }
  const json = Buffer.from(JSON.stringify(header))
  const length = Buffer.allocUnsafe(4)
  length.writeUInt32BE(json.length)
  return Buffer.concat([length, json, ...parts])
}

/** The outputs of an entry, or undefined when it is not a whole entry for `key` on `model`. */
export function decodeEntry (raw: Buffer, key: string, model: CacheableModel): TensorMap | undefined {
  if (raw.length < 4) return undefined
  const length = raw.readUInt32BE(0)
  if (4 + length > raw.length) return undefined
  let header: EntryHeader
  try {
    header = JSON.parse(raw.toString('utf8', 4, 4 + length)) as EntryHeader
  } catch {
    return undefined
  }
  if (header.key !== key || header.model !== model.name || header.version !== model.version || header.digest !== model.digest) return undefined
  const outputs: TensorMap = {}
  let offset = 4 + length
  for (const output of header.outputs) {
    const info = tensorTypes[output.type]
    if (info === undefined) return undefined
    if (output.strings !== undefined) {
      outputs[output.name] = { type: output.type, dims: output.dims, data: output.strings }
      continue
    }
    const data = info.create(elementCount(output.dims)) as NumericArray
    const bytes = data.byteLength
    if (bytes !== output.bytes || offset + bytes > raw.length) return undefined
    // A copy, aligned for the typed array (the Buffer's offset need not be).
    new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(raw.subarray(offset, offset + bytes))
    offset += bytes
    outputs[output.name] = { type: output.type, dims: output.dims, data }
  }
  return offset === raw.length ? outputs : undefined
}

export class PredictionCache {
  private readonly inflight = new Map<string, Promise<CachedRun>>()

  /** `store` should be a ForgivingCacheClient: a store error here is only a miss, unreported. */
  constructor (private readonly store: CacheClient, private readonly options: PredictionCacheOptions) {}

  /**
   * The outputs of `feeds` on `model`: from the store, from an identical
   * request already running, or from `compute` (then stored, in the background).
   */
  async run (model: CacheableModel, feeds: TensorMap, fetches: readonly string[], compute: () => Promise<TensorMap>): Promise<CachedRun> {
    const key = predictionKey(model, feeds, fetches)
    const running = this.inflight.get(key)
    if (running !== undefined) return { outputs: (await running).outputs, cache: 'HIT' }
    const own = this.lookupOrCompute(model, key, compute)
    this.inflight.set(key, own)
    try {
      return await own
    } finally {
      this.inflight.delete(key)
    }
  }

  private async lookupOrCompute (model: CacheableModel, key: string, compute: () => Promise<TensorMap>): Promise<CachedRun> {
    const found = await this.lookup(model, key)
    if (found !== undefined) return { outputs: found, cache: 'HIT' }
    const outputs = await compute()
    this.keep(model, key, outputs)
    return { outputs, cache: 'MISS' }
  }

  private async lookup (model: CacheableModel, key: string): Promise<TensorMap | undefined> {
    const cached = await this.store.get({ id: key, segment: PREDICTION_SEGMENT }).catch(() => null)
    return Buffer.isBuffer(cached?.item) ? decodeEntry(cached.item, key, model) : undefined
  }

  private keep (model: CacheableModel, key: string, outputs: TensorMap): void {
    const entry = encodeEntry(key, model, outputs)
    if (entry.length > this.options.maxEntryBytes) return
    this.store.set({ id: key, segment: PREDICTION_SEGMENT }, entry, this.options.ttlMs).catch(() => {})
  }
}
