import { LRUCache } from 'lru-cache'

/** What a count answers: requests in the current window, and the ms left in it. */
export interface WindowCount { current: number, ttl: number }

interface Window { count: number, startMs: number }

/**
 * Fixed-window request counters, one per key, in a table of at most `maxKeys`
 * keys (the same counting as @fastify/rate-limit's own stores: a window opens
 * at a key's first request and lasts `windowMs`). When the table is full the
 * least recently counted key is forgotten, and it starts a new window on its
 * next request: `onEvict` says so, since a forgotten key is a quota reset.
 */
export class WindowCounters {
  readonly #windows: LRUCache<string, Window>

  constructor (maxKeys: number, onEvict: () => void = () => {}) {
    this.#windows = new LRUCache<string, Window>({
      max: maxKeys,
      dispose: (_window, _key, reason) => { if (reason === 'evict') onEvict() }
    })
  }

  incr (key: string, windowMs: number, nowMs = Date.now()): WindowCount {
    let window = this.#windows.get(key)
    if (window === undefined || window.startMs + windowMs <= nowMs) {
      window = { count: 0, startMs: nowMs }
      this.#windows.set(key, window)
    }
    window.count++
    return { current: window.count, ttl: window.startMs + windowMs - nowMs }
  }

  get size (): number { return this.#windows.size }
}

/** The tables a quota counts in: see QuotaTables. */
export type QuotaTable = 'subjects' | 'addresses'
export const QUOTA_TABLES: readonly QuotaTable[] = ['subjects', 'addresses']

/**
 * Two tables, so that traffic nobody vouches for cannot push a verified
 * identity out: token subjects (only the token issuer makes new ones) count
 * in one, client addresses (anonymous requests, failed authentications: an
 * IPv6 /48 holds 65,536 of them) in the other.
 */
export class QuotaTables {
  readonly #tables: Record<QuotaTable, WindowCounters>

  constructor (maxKeys: number, onEvict: (table: QuotaTable) => void = () => {}) {
    this.#tables = {
      subjects: new WindowCounters(maxKeys, () => onEvict('subjects')),
      addresses: new WindowCounters(maxKeys, () => onEvict('addresses'))
    }
  }

  incr (table: QuotaTable, key: string, windowMs: number): WindowCount {
    return this.#tables[table].incr(key, windowMs)
  }

  size (table: QuotaTable): number { return this.#tables[table].size }
}
