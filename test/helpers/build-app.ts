// Builds the whole app, as server.ts does, for app.inject tests.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import app, { serverOptions } from '../../app'
import { loadConfig } from '../../lib/config'
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

/**
 * The app over `env` (MODEL_REPOSITORY defaults to the bundled models), with
 * its models loaded; closed after the test.
 */
export async function buildApp (t: Test, env: Record<string, string> = {}): Promise<FastifyInstance> {
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    MODEL_REPOSITORY: bundledRepository,
    INFERENCE_THREADS: '1',
    ...env
  })
  const fastify = Fastify(serverOptions(config))
  await fastify.register(app, { config })
  await fastify.ready()
  await fastify.modelsLoaded
  t.teardown(() => fastify.close())
  return fastify
}
