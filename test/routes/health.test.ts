import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp, fixtureRepository } from '../helpers/build-app'
import { buildLoggedApp, type LogLine } from '../helpers/logged-app'

function emptyDir (t: tap.Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'onnx-serve-empty-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('over the bundled models', async t => {
  let app: FastifyInstance
  t.before(async () => { app = await buildApp(t) })

  t.test('GET /health/live answers ok', async t => {
    const res = await app.inject({ method: 'GET', url: '/health/live' })
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /^application\/json/)
    t.strictSame(res.json(), { status: 'ok' })
  })

  t.test('GET /health/ready answers ok once the models are loaded', async t => {
    const res = await app.inject({ method: 'GET', url: '/health/ready' })
    t.equal(res.statusCode, 200)
    t.strictSame(res.json(), { status: 'ok' })
    t.equal(res.headers['retry-after'], undefined)
  })

  t.test('while draining, readiness is 503 with retry-after and a reason; liveness stays 200', async t => {
    app.lifecycle.draining = true
    t.teardown(() => { app.lifecycle.draining = false })
    const ready = await app.inject({ method: 'GET', url: '/health/ready' })
    t.equal(ready.statusCode, 503)
    t.match(ready.headers['content-type'], /^application\/json/)
    t.equal(ready.headers['retry-after'], '5')
    t.strictSame(ready.json(), { status: 'unavailable', reason: 'shutting down' })
    const live = await app.inject({ method: 'GET', url: '/health/live' })
    t.equal(live.statusCode, 200)
    t.strictSame(live.json(), { status: 'ok' })
  })

  t.test('readiness turns back to 200 when draining is cleared', async t => {
    const res = await app.inject({ method: 'GET', url: '/health/ready' })
    t.equal(res.statusCode, 200)
  })

  t.test('closing the app sets draining (preClose), so readiness would answer 503', async t => {
    t.equal(app.lifecycle.draining, false)
    await app.close()
    t.equal(app.lifecycle.draining, true)
  })
})

t.test('with some failing models, the others serve: ready', async t => {
  const app = await buildApp(t, { MODEL_REPOSITORY: fixtureRepository(t) })
  const res = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(res.statusCode, 200)
  t.strictSame(res.json(), { status: 'ok' })
  // badconfig comes first by name but cannot serve: /predict gets the first model that does
  t.equal(app.models.registry.entry('badconfig').state, 'UNAVAILABLE')
  t.equal(app.models.registry.defaultModel(), 'mixed')
  const predicted = await app.inject({ method: 'POST', url: '/predict', payload: { input_data: { a: [0.5, 0.25], b: [10], c: 7, flag: [true] } } })
  t.equal(predicted.statusCode, 200)
  t.strictSame(predicted.json(), { prediction: [[10.75]] })
})

t.test('an empty repository is not ready, and says so', async t => {
  const dir = emptyDir(t)
  const app = await buildApp(t, { MODEL_REPOSITORY: dir })
  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 503)
  t.equal(ready.headers['retry-after'], '5')
  t.strictSame(ready.json(), { status: 'unavailable', reason: 'the model repository holds no model; put one at <name>/1/model.onnx in MODEL_REPOSITORY (the server log names the folder)' })
  const live = await app.inject({ method: 'GET', url: '/health/live' })
  t.equal(live.statusCode, 200, 'alive all the same')
})

t.test('a repository that does not exist is not ready, with the read error', async t => {
  const missing = join(emptyDir(t), 'missing')
  const app = await buildApp(t, { MODEL_REPOSITORY: missing })
  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 503)
  t.equal(ready.headers['retry-after'], '5')
  t.strictSame(ready.json(), {
    status: 'unavailable',
    reason: 'cannot read the model repository: ENOENT: no such file or directory; make MODEL_REPOSITORY a readable folder (the server log names the folder)'
  })
})

t.test('DEFAULT_MODEL missing from the repository: not ready, though other models serve', async t => {
  const app = await buildApp(t, { MODEL_REPOSITORY: fixtureRepository(t), DEFAULT_MODEL: 'nope' })
  t.equal(app.models.registry.entry('sum').state, 'READY', 'another model serves')
  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 503)
  t.equal(ready.headers['retry-after'], '5')
  t.strictSame(ready.json(), { status: 'unavailable', reason: 'DEFAULT_MODEL \'nope\' is not in the repository' })
})

t.test('DEFAULT_MODEL that cannot be served: not ready, with its reason', async t => {
  const app = await buildApp(t, { MODEL_REPOSITORY: fixtureRepository(t), DEFAULT_MODEL: 'badconfig' })
  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 503)
  t.equal(ready.headers['retry-after'], '5')
  t.strictSame(ready.json(), {
    status: 'unavailable',
    reason: 'DEFAULT_MODEL \'badconfig\' is unavailable: config.json: unknown key \'colour\'; allowed keys: description, labels, max_batch_size, dynamic_batching, version_policy, cache, prediction_output, placement, warmup'
  })
})

t.test('DEFAULT_MODEL missing from the repository: one line at start, with the names held and the nearest', async t => {
  const repository = fixtureRepository(t)
  const logged = await buildLoggedApp(t, { MODEL_REPOSITORY: repository, DEFAULT_MODEL: 'Mixd' })
  const lines = logged.raw.map(line => JSON.parse(line) as LogLine).filter(line => line.msg.startsWith('DEFAULT_MODEL'))
  t.equal(lines.length, 1, 'one line')
  t.match(lines[0], { level: 50, repository, msg: `DEFAULT_MODEL 'Mixd' is not in the repository ${repository}, which holds 'badconfig', 'broken', 'empty', 'mixed', 'static', 'sum', 'zipmap'; did you mean 'mixed'? The server stays unready until it is: correct DEFAULT_MODEL, or unset it and /predict serves the first model by name` })
})
