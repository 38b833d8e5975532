// A model repository with the bundled iris model's prediction cache on
// ("cache": true in its config.json), and iris-petal-width as it ships (off).

import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { bundledRepository } from './build-app'

export function cachedIrisRepository (t: { testdir: () => string }): string {
  const dir = t.testdir()
  for (const model of ['iris', 'iris-petal-width']) cpSync(join(bundledRepository, model), join(dir, model), { recursive: true })
  const configFile = join(dir, 'iris', 'config.json')
  writeFileSync(configFile, JSON.stringify({ ...JSON.parse(readFileSync(configFile, 'utf8')), cache: true }))
  return dir
}

/** A row no other test sends, so a first request is always a miss (even in a shared Redis). */
export function freshRow (): number[] {
  return [4 + Math.random() * 3, 2 + Math.random() * 2, 1 + Math.random() * 5, Math.random() * 2.5]
}

export function predictRow (app: FastifyInstance, row: number[], headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url: '/predict', headers, payload: { input_data: row } })
}

/** Counts the runs that reach the model manager (the batcher and the worker pool) from now on. */
export function countRuns (app: FastifyInstance): () => number {
  let runs = 0
  const run = app.models.run.bind(app.models)
  app.models.run = async (...args) => {
    runs++
    return await run(...args)
  }
  return () => runs
}
