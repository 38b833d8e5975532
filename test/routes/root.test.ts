import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp, fixtureRepository } from '../helpers/build-app'
import { name, version } from '../../package.json'

const links = {
  docs: '/docs',
  openapi: '/docs/json',
  models: '/v1/models',
  predict: '/predict',
  live: '/health/live',
  ready: '/health/ready'
}

t.test('GET / over the bundled models', async t => {
  const app = await buildApp(t)
  const res = await app.inject({ method: 'GET', url: '/' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  t.strictSame(res.json(), { name: 'onnx-serve', version, models: ['iris', 'iris-petal-width'], default_model: 'iris', links })
  t.equal(name, 'onnx-serve')
})

t.test('GET / lists every model of the repository, servable or not, and the configured default', async t => {
  const app = await buildApp(t, { MODEL_REPOSITORY: fixtureRepository(t), DEFAULT_MODEL: 'sum' })
  const res = await app.inject({ method: 'GET', url: '/' })
  t.equal(res.statusCode, 200)
  t.strictSame(res.json(), {
    name: 'onnx-serve',
    version,
    models: ['badconfig', 'broken', 'empty', 'mixed', 'static', 'sum', 'zipmap'],
    default_model: 'sum',
    links
  })
})

t.test('GET / over an empty repository has no default model', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'onnx-serve-empty-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const app: FastifyInstance = await buildApp(t, { MODEL_REPOSITORY: dir })
  const res = await app.inject({ method: 'GET', url: '/' })
  t.equal(res.statusCode, 200)
  const body = res.json<Record<string, unknown>>()
  t.strictSame(body, { name: 'onnx-serve', version, models: [], links })
  t.notOk('default_model' in body, 'no default_model key at all')
})
