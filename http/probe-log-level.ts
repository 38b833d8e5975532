import type { LogLevel } from 'fastify'

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const

/**
 * The log level of the health probes' routes: probes come every few seconds
 * from every load balancer, so their request lines are logged only when the
 * handler fails (error); a 503 is the answer, and the data plane logs when
 * it changes (plugins/data-plane). Nothing when LOG_LEVEL asks for less.
 */
export function probeLogLevel (configured: string): LogLevel {
  return LEVELS[Math.max(LEVELS.indexOf('error'), LEVELS.indexOf(configured as typeof LEVELS[number]))]
}
