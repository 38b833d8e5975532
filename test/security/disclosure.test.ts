// No reply names a path of the server. Reasons that reach a client (readiness,
// the model list and metadata, the repository API, 503s of a model that cannot
// serve) name files relative to the model repository (broken/1/model.onnx,
// config.json) or models by name, and still say what is wrong and the fix.
// The server's own log keeps the full paths for the operator.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import t from 'tap'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { buildApp, fixtureRepository } from '../helpers/build-app'
import { buildLoggedApp } from '../helpers/logged-app'

const NO_MODEL = 'the model repository holds no model; put one at <name>/1/model.onnx in MODEL_REPOSITORY (the server log names the folder)'
const UNREADABLE = 'cannot read the model repository: ENOENT: no such file or directory; make MODEL_REPOSITORY a readable folder (the server log names the folder)'
const NOT_ONNX = 'The file is not a valid ONNX model: re-export it (torch.onnx.export, skl2onnx.to_onnx) and check it with onnx.checker.check_model'

function tempDir (t: tap.Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'onnx-serve-disclosure-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A valid body for each POST, so the reply is about the model, not the body. */
function payloadFor (url: string): Record<string, unknown> {
  if (url === '/predict') return { input_data: [1, 2, 3] }
  if (url.endsWith('/predict')) return { instances: [[1, 2, 3]] }
  return {}
}

/**
 * Requests every reply that can carry a reason, and checks that none shows
 * `dir` (the temporary folder holding the repository: absolute, or by its
 * random name as a path relative to the working folder would), the system's
 * temporary folder or the working folder. Returns the replies by request.
 */
async function replies (t: tap.Test, app: FastifyInstance, dir: string, requests: string[]): Promise<Record<string, LightMyRequestResponse>> {
  const secrets = [dir, basename(dir), tmpdir(), process.cwd()]
  const byRequest: Record<string, LightMyRequestResponse> = {}
  for (const request of requests) {
    const [method, url] = request.split(' ') as [InjectOptions['method'], string]
    const res = await app.inject({ method, url, ...(method === 'POST' ? { payload: payloadFor(url) } : {}) })
    const shown = secrets.filter(secret => res.body.includes(secret))
    t.same(shown, [], `${request} (${res.statusCode}) shows no server path`)
    byRequest[request] = res
  }
  return byRequest
}

const probes = ['GET /health/ready', 'GET /v2/health/ready', 'GET /v1/models', 'POST /v2/repository/index']

t.test('an empty repository: not ready, told without its path, which the log has', async t => {
  const dir = tempDir(t)
  const { app, raw } = await buildLoggedApp(t, { MODEL_REPOSITORY: dir })
  const res = await replies(t, app, dir, [...probes, 'POST /v2/repository/models/iris/load', 'POST /predict'])
  t.equal(res['GET /health/ready'].statusCode, 503)
  t.strictSame(res['GET /health/ready'].json(), { status: 'unavailable', reason: NO_MODEL }, 'what is wrong and where a model goes')
  t.strictSame(res['GET /v2/health/ready'].json(), { error: NO_MODEL })
  t.strictSame(res['GET /v1/models'].json(), { models: [] })
  t.strictSame(res['POST /v2/repository/index'].json(), [])
  t.strictSame(res['POST /v2/repository/models/iris/load'].json(), {
    error: "model 'iris' is not in the model repository: there is no folder 'iris' in it; put the model at iris/1/model.onnx"
  })
  t.ok(raw.some(line => line.includes('the model repository holds no model') && line.includes(JSON.stringify(dir))),
    'the log line names the folder, for the operator')
})

t.test('a repository that cannot be read: the error without its path', async t => {
  const dir = tempDir(t)
  const app = await buildApp(t, { MODEL_REPOSITORY: join(dir, 'missing') })
  const res = await replies(t, app, dir, probes)
  t.strictSame(res['GET /health/ready'].json(), { status: 'unavailable', reason: UNREADABLE })
  t.strictSame(res['GET /v2/health/ready'].json(), { error: UNREADABLE })
  t.equal(res['POST /v2/repository/index'].statusCode, 503)
  t.strictSame(res['POST /v2/repository/index'].json(), { error: UNREADABLE })
})

t.test('models that cannot be served: each reason names the file in the repository and the fix', async t => {
  const dir = fixtureRepository(t)
  // More ways for a model folder to be wrong: config.json a folder, a version policy that matches nothing
  mkdirSync(join(dir, 'unreadable', '1'), { recursive: true })
  writeFileSync(join(dir, 'unreadable', '1', 'model.onnx'), 'never read')
  mkdirSync(join(dir, 'unreadable', 'config.json'))
  mkdirSync(join(dir, 'nopolicy', '1'), { recursive: true })
  writeFileSync(join(dir, 'nopolicy', '1', 'model.onnx'), 'never read')
  writeFileSync(join(dir, 'nopolicy', 'config.json'), '{"version_policy": [7]}')
  // DEFAULT_MODEL broken: readiness gives the broken model's reason
  const app = await buildApp(t, { MODEL_REPOSITORY: dir, DEFAULT_MODEL: 'broken' })
  const res = await replies(t, app, dir, [
    ...probes,
    'GET /v1/models/broken', 'GET /v1/models/empty', 'GET /v1/models/badconfig', 'GET /v1/models/unreadable',
    'GET /v2/models/broken', 'GET /v2/models/broken/ready', 'POST /v1/models/broken/predict', 'POST /predict',
    'POST /v2/repository/models/broken/load', 'POST /v2/repository/models/empty/load', 'POST /v2/repository/models/nope/unload'
  ])

  const broken = `version 1: Load model from broken/1/model.onnx failed:Protobuf parsing failed. ${NOT_ONNX}`
  const reasons = Object.fromEntries(res['GET /v1/models'].json<{ models: Array<{ name: string, reason?: string }> }>().models
    .map(model => [model.name, model.reason]))
  t.strictSame(reasons, {
    badconfig: "config.json: unknown key 'colour'; allowed keys: description, labels, max_batch_size, dynamic_batching, version_policy, cache, prediction_output, placement, warmup",
    broken,
    empty: 'no version found; put the model at empty/1/model.onnx',
    mixed: undefined,
    nopolicy: 'version_policy [7] matches none of the versions found (1)',
    static: undefined,
    sum: undefined,
    unreadable: 'config.json cannot be read (EISDIR: illegal operation on a directory, read); make it a readable file or remove it',
    zipmap: undefined
  }, 'every reason as a client reads it')

  t.strictSame(res['GET /health/ready'].json(), { status: 'unavailable', reason: `DEFAULT_MODEL 'broken' is unavailable: ${broken}` })
  t.strictSame(res['GET /v2/health/ready'].json(), { error: `DEFAULT_MODEL 'broken' is unavailable: ${broken}` })
  for (const request of ['GET /v1/models/broken', 'POST /v1/models/broken/predict', 'POST /predict']) {
    t.match(res[request].json(), { statusCode: 503, message: `model 'broken' is unavailable: ${broken}` }, request)
  }
  t.match(res['GET /v1/models/empty'].json(), { statusCode: 503, message: "model 'empty' is unavailable: no version found; put the model at empty/1/model.onnx" })
  for (const request of ['GET /v2/models/broken', 'GET /v2/models/broken/ready']) {
    t.strictSame(res[request].json(), { error: `model 'broken' is unavailable: ${broken}` }, request)
  }
  t.match(res['POST /v2/repository/index'].json(), [
    { name: 'badconfig', version: '1', state: 'UNAVAILABLE', reason: reasons.badconfig },
    { name: 'broken', version: '1', state: 'UNAVAILABLE', reason: broken },
    { name: 'empty', state: 'UNAVAILABLE', reason: reasons.empty }
  ])
  t.strictSame(res['POST /v2/repository/models/broken/load'].json(), { error: `failed to load model 'broken': ${broken}` })
  t.strictSame(res['POST /v2/repository/models/empty/load'].json(), { error: `failed to load model 'empty': ${reasons.empty ?? ''}` })
  t.strictSame(res['POST /v2/repository/models/nope/unload'].json(), {
    error: "model 'nope' is not in the model repository: there is no folder 'nope' in it; put the model at nope/1/model.onnx"
  })
})
