import type { QuotaTable } from './window-counters'

interface WarnLog { warn: (facts: object, message: string) => void }

/**
 * An `onEvict` for QuotaTables that says, at most once per `everyMs` and
 * table, how many counters were forgotten: each one is a quota that
 * restarted, which is fine for a client gone quiet and a sign that
 * RATE_LIMIT_KEYS is too small when it keeps happening.
 */
export function evictionWarning (log: WarnLog, maxKeys: number, everyMs = 60_000): (table: QuotaTable) => void {
  const evicted: Record<QuotaTable, number> = { subjects: 0, addresses: 0 }
  const warnedAt: Record<QuotaTable, number> = { subjects: -Infinity, addresses: -Infinity }
  return table => {
    evicted[table]++
    const now = Date.now()
    if (now - warnedAt[table] < everyMs) return
    log.warn({ table, evicted: evicted[table], rateLimitKeys: maxKeys },
      `rate-limit counters full: ${evicted[table]} least recently seen ${table} forgotten (their quotas restart); raise RATE_LIMIT_KEYS if this repeats`)
    evicted[table] = 0
    warnedAt[table] = now
  }
}
