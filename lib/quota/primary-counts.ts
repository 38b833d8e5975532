// With WORKERS > 1 and no Redis, the primary process keeps every quota
// counter (as it gathers metrics), so each identity has one quota for the
// whole process group rather than one per server process. A count is one
// IPC round trip: the server process asks, the primary counts and answers.

import cluster from 'node:cluster'
import { QUOTA_TABLES, type QuotaTable, type QuotaTables, type WindowCount } from './window-counters'

/** Set in a server process's environment by a primary that answers counts. */
export const PRIMARY_COUNTS_ENV = 'ONNX_SERVE_PRIMARY_COUNTS'

interface CountAsk { id: number, table: QuotaTable, key: string, windowMs: number }
interface CountReply extends WindowCount { id: number }
const ASK = 'onnxServeQuotaCount'
const REPLY = 'onnxServeQuotaCounted'

function askOf (message: unknown): CountAsk | undefined {
  if (typeof message !== 'object' || message === null || !(ASK in message)) return undefined
  const ask = (message as Record<typeof ASK, Partial<CountAsk> | null>)[ASK]
  if (ask === null || typeof ask !== 'object') return undefined
  const { id, table, key, windowMs } = ask
  if (typeof id !== 'number' || typeof key !== 'string' || typeof windowMs !== 'number') return undefined
  if (table === undefined || !QUOTA_TABLES.includes(table)) return undefined
  return { id, table, key, windowMs }
}

/** In the primary: answer the server processes' counts from `tables`. */
export function answerCounts (tables: QuotaTables): void {
  cluster.on('message', (worker, message: unknown) => {
    const ask = askOf(message)
    if (ask === undefined) return
    const reply: CountReply = { id: ask.id, ...tables.incr(ask.table, ask.key, ask.windowMs) }
    // A server that died meanwhile has no channel left: its caller is gone too.
    if (worker.isConnected()) worker.send({ [REPLY]: reply }, undefined, () => {})
  })
}

interface Pending { resolve: (count: WindowCount) => void, reject: (error: Error) => void, sentMs: number }

/**
 * In a server process: counts asked of the primary. A count it does not
 * answer within `timeoutMs` fails (the rate limiter then serves the request
 * and counts the store as unavailable, as with an unreachable Redis).
 */
export class PrimaryCounts {
  readonly #pending = new Map<number, Pending>()
  readonly #sweep: NodeJS.Timeout
  #nextId = 0

  constructor (private readonly timeoutMs = 1000) {
    process.on('message', this.#onMessage)
    this.#sweep = setInterval(() => this.#expire(), Math.max(10, timeoutMs / 4)).unref()
  }

  static available (): boolean {
    return cluster.isWorker && process.env[PRIMARY_COUNTS_ENV] === '1' && process.send !== undefined
  }

  async incr (table: QuotaTable, key: string, windowMs: number): Promise<WindowCount> {
    return await new Promise((resolve, reject) => {
      const id = this.#nextId++
      const ask: CountAsk = { id, table, key, windowMs }
      this.#pending.set(id, { resolve, reject, sentMs: Date.now() })
      process.send?.({ [ASK]: ask }, undefined, {}, (error: Error | null) => {
        if (error !== null) this.#settle(id)?.reject(error)
      })
    })
  }

  close (): void {
    process.off('message', this.#onMessage)
    clearInterval(this.#sweep)
    for (const id of [...this.#pending.keys()]) this.#settle(id)?.reject(new Error('quota counts closed'))
  }

  readonly #onMessage = (message: unknown): void => {
    if (typeof message !== 'object' || message === null || !(REPLY in message)) return
    const reply = (message as Record<typeof REPLY, CountReply>)[REPLY]
    this.#settle(reply.id)?.resolve({ current: reply.current, ttl: reply.ttl })
  }

  #settle (id: number): Pending | undefined {
    const pending = this.#pending.get(id)
    this.#pending.delete(id)
    return pending
  }

  #expire (): void {
    const before = Date.now() - this.timeoutMs
    for (const [id, pending] of this.#pending) {
      if (pending.sentMs > before) break // in the order sent
      this.#settle(id)?.reject(new Error(`the primary process did not count within ${this.timeoutMs} ms`))
    }
  }
}
