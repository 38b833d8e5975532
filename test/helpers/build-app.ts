// Builds the whole app, as server.ts does, for app.inject tests.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance, type FastifyServerOptions, type InjectOptions } from 'fastify'
import { createSigner } from 'fast-jwt'
import app from '../../app'
import { serverOptions } from '../../http/server-options'
import { DEVELOPMENT_SECRET } from '../../lib/auth/auth-key'
import { loadConfig } from '../../lib/config/config'
import { buildFixtureRepository } from './fixture-repository'

interface Test {
  teardown: (fn: () => unknown) => void
}

export const bundledRepository = join(__dirname, '..', '..', 'models')

/** A fresh fixture repository (see fixture-repository.ts), removed after the test. */
export function fixtureRepository (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'onnx-serve-test-'))
  buildFixtureRepository(dir)
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A token for the development secret (the key of every test app that sets none). */
export function devToken (claims: Record<string, unknown> = { sub: 'tester', scope: 'predict admin' }, expiresInMs = 3_600_000): string {
  return createSigner({ key: DEVELOPMENT_SECRET, algorithm: 'HS256', expiresIn: expiresInMs })(claims)
}

/**
 * Environment every test app starts from: quiet, one inference thread,
 * quotas no test reaches, and no load shedding: on a busy CI machine a
 * test's own heavy steps can lag its loop past the default 500 ms, and the
 * requests that follow would be shed. The load-shedding tests set
 * MAX_EVENT_LOOP_DELAY_MS themselves.
 */
export const testEnv: Record<string, string> = {
  NODE_ENV: 'test',
  LOG_LEVEL: 'silent',
  MODEL_REPOSITORY: bundledRepository,
  INFERENCE_THREADS: '1',
  RATE_LIMIT_MAX: '10000000',
  AUTH_FAILURE_LIMIT: '1000000',
  MAX_EVENT_LOOP_DELAY_MS: '0'
}

export interface BuildOptions {
  /**
   * Send a predict+admin token with every inject that sets no Authorization
   * header of its own (default true). Route tests are about routes; the auth
   * tests turn this off.
   */
  token?: boolean
  /** Changes to Fastify's options (a log stream, say). */
  fastifyOptions?: (options: FastifyServerOptions) => FastifyServerOptions
  /** Runs before ready(): test-only routes. */
  setup?: (fastify: FastifyInstance) => void | Promise<void>
}

/**
 * The app over `env` (on top of testEnv), with its models loaded; closed
 * after the test.
 */
export async function buildApp (t: Test, env: Record<string, string> = {}, options: BuildOptions = {}): Promise<FastifyInstance> {
  const config = loadConfig({ ...testEnv, ...env })
  const fastifyOptions = serverOptions(config)
  const fastify = Fastify(options.fastifyOptions?.(fastifyOptions) ?? fastifyOptions)
  await fastify.register(app, { config })
  await options.setup?.(fastify)
  await fastify.ready()
  await fastify.modelsLoaded
  t.teardown(() => fastify.close())
  if (options.token !== false) withToken(fastify, `Bearer ${devToken()}`)
  return fastify
}

function withToken (fastify: FastifyInstance, authorization: string): void {
  const inject = fastify.inject.bind(fastify) as (options: InjectOptions | string) => ReturnType<FastifyInstance['inject']>
  const injectWithToken = (options: InjectOptions | string) => {
    const request = typeof options === 'string' ? { url: options } : options
    const headers: Record<string, unknown> = { ...request.headers }
    if (!Object.keys(headers).some(name => name.toLowerCase() === 'authorization')) headers.authorization = authorization
    return inject({ ...request, headers: headers as InjectOptions['headers'] })
  }
  fastify.inject = injectWithToken as FastifyInstance['inject']
}
