// The stores behind @fastify/caching's `fastify.cache`, in abstract-cache's
// protocol (its promise flavour): in this process's memory on lru-cache,
// bounded in entries and bytes, or in Redis so every pod shares one cache.
// The plugin wraps either with abstract-cache for @fastify/caching's
// callbacks; the prediction cache uses the promises directly.

import { LRUCache } from 'lru-cache'
import type { Redis } from 'ioredis'

export interface CacheKey {
  id: string
  segment: string
}

/** What a get finds: the value, when it was stored and the milliseconds it has left. */
export interface Cached {
  item: unknown
  stored: number
  ttl: number
}

/** abstract-cache's client protocol, promise flavour (`await: true`). */
export interface CacheClient {
  readonly await: true
  get: (key: CacheKey) => Promise<Cached | null>
  set: (key: CacheKey, value: unknown, ttlMs: number) => Promise<void>
  has: (key: CacheKey) => Promise<boolean>
  delete: (key: CacheKey) => Promise<void>
  /** Drops every entry of `segment` whose id starts with `prefix` (beyond abstract-cache's protocol). */
  deletePrefix: (segment: string, prefix: string) => Promise<number>
}

export interface MemoryCacheOptions {
  maxEntries: number
  /** Bytes of values held; a value alone larger than this is not kept. */
  maxBytes: number
}

const storeKey = (key: CacheKey): string => `${key.segment}:${key.id}`

/** Bytes a value is counted as: a Buffer's length, anything else its JSON's. */
function sizeOf (value: unknown): number {
  return Buffer.isBuffer(value) ? value.length : Buffer.byteLength(JSON.stringify(value) ?? '')
}

interface MemoryEntry {
  item: unknown
  stored: number
  bytes: number
}

/** The default store: this process's memory, least recently used first out. */
export class MemoryCacheClient implements CacheClient {
  readonly await = true
  private readonly entries: LRUCache<string, MemoryEntry>

  constructor (options: MemoryCacheOptions) {
    this.entries = new LRUCache<string, MemoryEntry>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      // The key counts too: a flood of tiny values must not hide behind small items.
      sizeCalculation: (entry, key) => Math.max(1, entry.bytes + key.length)
    })
  }

  async get (key: CacheKey): Promise<Cached | null> {
    const id = storeKey(key)
    const entry = this.entries.get(id)
    if (entry === undefined) return null
    return { item: entry.item, stored: entry.stored, ttl: this.entries.getRemainingTTL(id) }
  }

  async set (key: CacheKey, value: unknown, ttlMs: number): Promise<void> {
    const id = storeKey(key)
    // lru-cache refuses (and does not store) an item larger than maxSize.
    this.entries.set(id, { item: value, stored: Date.now(), bytes: sizeOf(value) }, { ttl: ttlMs })
  }

  async has (key: CacheKey): Promise<boolean> {
    return this.entries.has(storeKey(key))
  }

  async delete (key: CacheKey): Promise<void> {
    this.entries.delete(storeKey(key))
  }

  async deletePrefix (segment: string, prefix: string): Promise<number> {
    const start = `${segment}:${prefix}`
    let dropped = 0
    for (const id of [...this.entries.keys()]) {
      if (id.startsWith(start) && this.entries.delete(id)) dropped++
    }
    return dropped
  }

  get size (): number {
    return this.entries.size
  }

  get bytes (): number {
    return this.entries.calculatedSize
  }
}

// A Redis value: one tag byte (b: a Buffer, j: JSON), when it was stored and
// its lifetime (two float64, ms), then the value's bytes.
const HEADER_BYTES = 17

function encodeValue (value: unknown, stored: number, ttlMs: number): Buffer {
  const body = Buffer.isBuffer(value) ? value : Buffer.from(JSON.stringify(value) ?? 'null')
  const header = Buffer.allocUnsafe(HEADER_BYTES)
  header.write(Buffer.isBuffer(value) ? 'b' : 'j', 0, 'latin1')
  header.writeDoubleBE(stored, 1)
  header.writeDoubleBE(ttlMs, 9)
  return Buffer.concat([header, body])
}

function decodeValue (raw: Buffer): Cached | null {
  if (raw.length < HEADER_BYTES) return null
  const tag = raw.toString('latin1', 0, 1)
  const stored = raw.readDoubleBE(1)
  const ttl = stored + raw.readDoubleBE(9) - Date.now()
  const body = raw.subarray(HEADER_BYTES)
  if (tag === 'b') return { item: body, stored, ttl }
  if (tag === 'j') return { item: JSON.parse(body.toString('utf8')) as unknown, stored, ttl }
  return null
}

/**
 * The shared store: Redis, through the server's one ioredis client (no
 * offline queue and a command timeout, so an unreachable or stalled Redis
 * fails a call within that timeout instead of holding it). Keys expire in
 * Redis itself (PX); its memory is bounded by the server's maxmemory policy.
 */
export class RedisCacheClient implements CacheClient {
  readonly await = true

  constructor (private readonly redis: Redis, private readonly namespace: string) {}

  private name (key: CacheKey): string {
    return `${this.namespace}${storeKey(key)}`
  }

  async get (key: CacheKey): Promise<Cached | null> {
    const raw = await this.redis.getBuffer(this.name(key))
    return raw === null ? null : decodeValue(raw)
  }

  async set (key: CacheKey, value: unknown, ttlMs: number): Promise<void> {
    const ttl = Math.max(1, Math.round(ttlMs))
    await this.redis.set(this.name(key), encodeValue(value, Date.now(), ttl), 'PX', ttl)
  }

  async has (key: CacheKey): Promise<boolean> {
    return await this.redis.exists(this.name(key)) === 1
  }

  async delete (key: CacheKey): Promise<void> {
    await this.redis.del(this.name(key))
  }

  // SCAN walks the keyspace in steps, never blocking Redis as KEYS would;
  // unloads and reloads are rare enough for that walk.
  async deletePrefix (segment: string, prefix: string): Promise<number> {
    const pattern = `${this.name({ segment, id: prefix }).replace(/[*?[\]\\]/g, '\\$&')}*`
    let cursor = '0'
    let dropped = 0
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      if (keys.length > 0) dropped += await this.redis.unlink(...keys)
      cursor = next
    } while (cursor !== '0')
    return dropped
  }
}

/**
 * A store that never fails its caller: a failed call is reported and
 * answered as a miss (get: null, has: false), and for `retryMs` afterwards
 * the store is not called at all, so a hung Redis costs one command timeout,
 * not one per call.
 */
export class ForgivingCacheClient implements CacheClient {
  readonly await = true
  private downUntil = 0

  constructor (private readonly store: CacheClient, private readonly retryMs: number, private readonly onError: (error: unknown) => void) {}

  private async guarded<T> (fallback: T, run: () => Promise<T>): Promise<T> {
    if (Date.now() < this.downUntil) return fallback
    try {
      return await run()
    } catch (error) {
      this.downUntil = Date.now() + this.retryMs
      this.onError(error)
      return fallback
    }
  }

  async get (key: CacheKey): Promise<Cached | null> {
    return await this.guarded(null, async () => await this.store.get(key))
  }

  async set (key: CacheKey, value: unknown, ttlMs: number): Promise<void> {
    await this.guarded(undefined, async () => { await this.store.set(key, value, ttlMs) })
  }

  async has (key: CacheKey): Promise<boolean> {
    return await this.guarded(false, async () => await this.store.has(key))
  }

  async delete (key: CacheKey): Promise<void> {
    await this.guarded(undefined, async () => { await this.store.delete(key) })
  }

  // Not skipped while the store is down: entries that outlive a reload must go when it can be reached.
  async deletePrefix (segment: string, prefix: string): Promise<number> {
    return await this.store.deletePrefix(segment, prefix).catch((error: unknown) => { this.onError(error); return 0 })
  }
}
