// What a server logged at warn and above while it was measured: errors under
// load are a finding, whatever the status codes say. Placement's moves too
// (logged at info): a model that moved between the main thread and the
// workers during a run explains its row.

import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import type { LogIssue } from './results'

interface LogLine {
  level?: unknown
  msg?: unknown
  time?: unknown
  req?: { method?: string, url?: string }
  res?: { statusCode?: number }
  placement?: unknown
  reason?: unknown
}

/** A server log's lines at warn (pino level 40) and above, and its placement moves, since `sinceMs`, counted by message. */
export async function logIssues (processName: string, logFile: string, sinceMs = 0): Promise<LogIssue[]> {
  const issues = new Map<string, LogIssue>()
  const lines = createInterface({ input: createReadStream(logFile) })
  for await (const line of lines) {
    let entry: LogLine
    try {
      entry = JSON.parse(line) as LogLine
    } catch {
      // Not pino: a crash's stack trace, Node's warnings. Counted as errors, but for the ceilings' start line.
      if (line.startsWith('listening at ') || line.trim() === '') continue
      entry = { level: 50, msg: line }
    }
    if (typeof entry.level !== 'number' || (entry.level < 40 && entry.placement === undefined)) continue
    if (typeof entry.time === 'number' && entry.time < sinceMs) continue
    // A request's line says "request completed" whatever happened: its status tells them apart.
    const status = entry.res?.statusCode
    const because = typeof entry.reason === 'string' ? `: ${entry.reason}` : ''
    const msg = (String(entry.msg ?? '') + because).slice(0, 240) + (status === undefined ? '' : ` (${status} ${entry.req?.method ?? ''} ${entry.req?.url ?? ''})`)
    const key = `${entry.level}\0${msg}`
    const issue = issues.get(key) ?? { process: processName, level: entry.level, msg, count: 0 }
    issue.count++
    issues.set(key, issue)
  }
  return [...issues.values()]
}
