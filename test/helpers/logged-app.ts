// The whole app, as server.ts builds it, with its log lines captured, and a
// hook to add test-only routes before it is ready.

import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import app, { serverOptions } from '../../app'
import { loadConfig } from '../../lib/config'
import { bundledRepository } from './build-app'

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
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    MODEL_REPOSITORY: bundledRepository,
    INFERENCE_THREADS: '1',
    ...env
  })
  const raw: string[] = []
  const stream = new Writable({
    write (chunk: Buffer | string, _encoding, callback) {
      raw.push(String(chunk))
      callback()
    }
  })
  const options = serverOptions(config)
  const logger = typeof options.logger === 'object' ? options.logger : {}
  const fastify = Fastify({ ...options, logger: { ...logger, stream } })
  await fastify.register(app, { config })
  if (setup !== undefined) await setup(fastify)
  await fastify.ready()
  await fastify.modelsLoaded
  t.teardown(() => fastify.close())
  const linesOf = (reqId: string): LogLine[] =>
    raw.map(line => JSON.parse(line) as LogLine).filter(line => line.reqId === reqId)
  return { app: fastify, raw, linesOf }
}
