// The whole app, as server.ts builds it, with its log lines captured, and a
// hook to add test-only routes before it is ready.

import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { buildApp } from './build-app'

interface Test {
  teardown: (fn: () => unknown) => void
}

export interface LogLine {
  level: number
  msg: string
  reqId?: string
  [key: string]: unknown
}

export interface LoggedApp {
  app: FastifyInstance
  /** Every log line written so far, raw JSON text. */
  raw: string[]
  /** The parsed lines of one request id. */
  linesOf: (reqId: string) => LogLine[]
}

export async function buildLoggedApp (
  t: Test,
  env: Record<string, string> = {},
  setup?: (fastify: FastifyInstance) => void | Promise<void>
): Promise<LoggedApp> {
  const raw: string[] = []
  const stream = new Writable({
    write (chunk: Buffer | string, _encoding, callback) {
      raw.push(String(chunk))
      callback()
    }
  })
  const fastify = await buildApp(t, { LOG_LEVEL: 'info', ...env }, {
    setup,
    fastifyOptions: options => ({ ...options, logger: { ...(typeof options.logger === 'object' ? options.logger : {}), stream } })
  })
  const linesOf = (reqId: string): LogLine[] =>
    raw.map(line => JSON.parse(line) as LogLine).filter(line => line.reqId === reqId)
  return { app: fastify, raw, linesOf }
}
