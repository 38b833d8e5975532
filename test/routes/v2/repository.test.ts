import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { PlacedRuntime } from '../../../lib/runtime/placement'
import { buildApp, bundledRepository, devToken } from '../../helpers/build-app'
import { assertError } from '../../helpers/responses'

// A repository of its own, so models can be added while the app runs:
// the bundled iris and iris-petal-width, and a broken model.
const repository = mkdtempSync(join(tmpdir(), 'onnx-serve-repository-'))
t.teardown(() => rmSync(repository, { recursive: true, force: true }))
for (const name of ['iris', 'iris-petal-width']) cpSync(join(bundledRepository, name), join(repository, name), { recursive: true })
mkdirSync(join(repository, 'broken', '1'), { recursive: true })
writeFileSync(join(repository, 'broken', '1', 'model.onnx'), 'this is not an onnx model')

const env = { MODEL_REPOSITORY: repository, INFERENCE_THREADS: '1' }
let app: FastifyInstance
t.before(async () => { app = await buildApp(t, env) })

const adminUrls = ['/v2/repository/index', '/v2/repository/models/iris/load', '/v2/repository/models/iris/unload']
const rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]

function post (url: string, payload?: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url, headers, ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) })
}

function predict (name: string): Promise<LightMyRequestResponse> {
  return post(`/v1/models/${name}/predict`, { instances: rows })
}

/** A /v2 error: exactly `{"error": message}`, in JSON. */
function assertV2Error (t: tap.Test, res: LightMyRequestResponse, statusCode: number, message: string | RegExp): void {
  t.equal(res.statusCode, statusCode, 'status code')
  t.match(res.headers['content-type'], /^application\/json/, 'JSON')
  const body = res.json<Record<string, unknown>>()
  t.same(Object.keys(body), ['error'], 'the protocol\'s error shape')
  if (typeof message === 'string') t.equal(body.error, message, 'the message')
  else t.match(body.error, message, 'the message')
}

async function index (payload?: unknown): Promise<Array<Record<string, unknown>>> {
  const res = await post('/v2/repository/index', payload)
  t.equal(res.statusCode, 200, 'index answers 200')
  return res.json()
}

t.test('the repository API needs the admin scope: 403 with a predict token, 401 without a token', async t => {
  const predictOnly = `Bearer ${devToken({ sub: 'x', scope: 'predict' })}`
  for (const url of adminUrls) {
    const res = await post(url, undefined, { authorization: predictOnly })
    t.equal(res.headers['www-authenticate'], 'Bearer realm="onnx-serve", error="insufficient_scope", scope="admin"', `${url}: the challenge names the scope`)
    assertV2Error(t, res, 403, "this route needs the 'admin' scope; the token has predict")
  }
  t.equal(app.models.registry.entry('iris').state, 'READY', 'the refused unload did nothing')

  const anonymous = await buildApp(t, env, { token: false })
  for (const url of adminUrls) {
    const res = await anonymous.inject({ method: 'POST', url })
    t.equal(res.headers['www-authenticate'], 'Bearer realm="onnx-serve"', `${url}: WWW-Authenticate`)
    assertV2Error(t, res, 401, 'missing bearer token: send Authorization: Bearer <token>')
  }
  t.equal(anonymous.models.registry.entry('iris').state, 'READY')
})

t.test('POST /v2/repository/index: one row per version with its state and reason', async t => {
  const brokenReason = app.models.registry.entry('broken').reason
  t.match(brokenReason, /^version 1: .*Protobuf parsing failed.*The file is not a valid ONNX model/)
  const all = [
    { name: 'broken', version: '1', state: 'UNAVAILABLE', reason: brokenReason },
    { name: 'iris', version: '1', state: 'READY', reason: '' },
    { name: 'iris-petal-width', version: '1', state: 'READY', reason: '' }
  ]
  t.strictSame(await index(), all, 'no body (as tritonclient sends it)')
  t.strictSame(await index({}), all, 'an empty object')
  t.strictSame(await index({ ready: false }), all, 'ready: false lists everything')
  t.strictSame(await index({ ready: true }), all.slice(1), 'ready: true only the ready ones')

  const noType = await app.inject({ method: 'POST', url: '/v2/repository/index', payload: '{"ready": true}' })
  t.equal(noType.statusCode, 200, 'a JSON body without Content-Type, as tritonclient sends it')
  t.strictSame(noType.json(), all.slice(1))

  assertV2Error(t, await post('/v2/repository/index', { ready: 'yes' }), 400, 'body.ready: must be boolean, received a string')
  assertV2Error(t, await post('/v2/repository/index', { colour: 'red' }), 400, 'body.colour: is not allowed here')
})

t.test('a model folder copied into the repository while the app runs: listed as not loaded, then loaded and served', async t => {
  cpSync(join(repository, 'iris'), join(repository, 'iris-copy'), { recursive: true })
  t.strictSame((await index()).filter(row => row.name === 'iris-copy'), [{ name: 'iris-copy', version: '1', state: 'UNAVAILABLE', reason: 'not loaded' }])
  t.strictSame(await index({ ready: true }).then(list => list.map(row => row.name)), ['iris', 'iris-petal-width'])
  t.equal((await predict('iris-copy')).statusCode, 404, 'not served before its load')

  const load = await post('/v2/repository/models/iris-copy/load')
  t.equal(load.statusCode, 200)
  t.strictSame(load.json(), {})
  t.strictSame((await index()).filter(row => row.name === 'iris-copy'), [{ name: 'iris-copy', version: '1', state: 'READY', reason: '' }])

  const [copy, original] = await Promise.all([predict('iris-copy'), predict('iris')])
  t.equal(copy.statusCode, 200)
  const predictions = copy.json<{ predictions: Array<{ label: number, probabilities: number[] }> }>().predictions
  t.same(predictions.map(prediction => prediction.label), [0, 2], 'setosa and virginica')
  t.strictSame(copy.json(), original.json(), 'the same answers as the model it was copied from')
})

t.test('unload: 503 until loaded again, listed as unloaded', async t => {
  const unload = await post('/v2/repository/models/iris-copy/unload', {})
  t.equal(unload.statusCode, 200)
  t.strictSame(unload.json(), {})
  const res = await predict('iris-copy')
  assertError(t, res, { statusCode: 503, code: 'ONNX_SERVE_UNAVAILABLE', message: "model 'iris-copy' is unavailable: unloaded" })
  t.equal(res.headers['retry-after'], '5')
  t.strictSame((await index()).filter(row => row.name === 'iris-copy'), [{ name: 'iris-copy', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' }])
  t.notOk((await index({ ready: true })).some(row => row.name === 'iris-copy'))
  const listed = await app.inject({ method: 'GET', url: '/v1/models' })
  t.match(listed.json<{ models: unknown[] }>().models, [{ name: 'broken' }, { name: 'iris' }, { name: 'iris-copy', state: 'UNAVAILABLE', reason: 'unloaded' }])

  const again = await post('/v2/repository/models/iris-copy/unload')
  t.equal(again.statusCode, 200, 'unloading an unloaded model is fine')

  const load = await post('/v2/repository/models/iris-copy/load', { parameters: {} })
  t.equal(load.statusCode, 200, 'loaded again (empty parameters accepted)')
  t.equal((await predict('iris-copy')).statusCode, 200)
})

t.test('load of a model that cannot be served: 400 with the reason; the others serve on', async t => {
  const res = await post('/v2/repository/models/broken/load')
  const reason = app.models.registry.entry('broken').reason
  t.match(reason, /^version 1: .*not a valid ONNX model/)
  assertV2Error(t, res, 400, `failed to load model 'broken': ${reason ?? ''}`)

  // A model that served and then fails to reload serves on, with the reason beside it
  writeFileSync(join(repository, 'iris-copy', 'config.json'), '{"colour": "red"}')
  const failed = await post('/v2/repository/models/iris-copy/load')
  assertV2Error(t, failed, 400, /^failed to load model 'iris-copy': config\.json: unknown key 'colour'; allowed keys: .*; it serves version 1$/)
  t.equal((await predict('iris-copy')).statusCode, 200, 'availability first')
  t.match((await index()).find(row => row.name === 'iris-copy'), { state: 'READY', reason: /^serving on; the last load failed: config\.json: unknown key 'colour'/ })
  t.equal((await predict('iris')).statusCode, 200, 'iris still serves')
  t.equal((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200, 'the server stays ready')
})

t.test('unknown models and bad requests', async t => {
  const missing = "model 'nope' is not in the model repository: there is no folder 'nope' in it; put the model at nope/1/model.onnx"
  assertV2Error(t, await post('/v2/repository/models/nope/load'), 404, missing)
  assertV2Error(t, await post('/v2/repository/models/nope/unload'), 404, missing)
  assertV2Error(t, await post('/v2/repository/models/.hidden/load'), 400,
    'params.name: expected a model name: up to 128 letters, digits, _ . or -, starting with a letter or digit, received a string')
  assertV2Error(t, await post('/v2/repository/models/iris/load', { parameters: { config: '{}' } }), 400,
    'body.parameters: load parameters (config) are not supported; put the model and its config.json in the repository folder and send no parameters')
  assertV2Error(t, await post('/v2/repository/models/iris/load', { model: 'x' }), 400, 'body.model: is not allowed here')
  t.equal(app.models.registry.entry('iris').state, 'READY', 'nothing happened to iris')
})

t.test('load and unload under traffic: model A answers 200 or 503, never 500; model B is unaffected', async t => {
  const statuses = { A: new Map<number, number>(), B: new Map<number, number>() }
  const unexpected: string[] = []
  const deadline = Date.now() + 1500
  async function loop (model: 'A' | 'B'): Promise<void> {
    const name = model === 'A' ? 'iris' : 'iris-petal-width'
    const instances = model === 'A' ? rows : rows.map(row => row.slice(0, 3))
    while (Date.now() < deadline) {
      const res = await post(`/v1/models/${name}/predict`, { instances })
      statuses[model].set(res.statusCode, (statuses[model].get(res.statusCode) ?? 0) + 1)
      const allowed = model === 'A' ? [200, 503] : [200]
      if (!allowed.includes(res.statusCode)) unexpected.push(`${model} ${res.statusCode} ${res.body}`)
      if (res.statusCode === 503 && !/^model 'iris' (is unloading|is loading|is unavailable: unloaded|version 1 is no longer loaded)/.test(res.json<{ message: string }>().message)) {
        unexpected.push(`A 503 for another reason: ${res.body}`)
      }
    }
  }
  const admin: Array<[string, number]> = []
  async function cycle (): Promise<void> {
    for (let i = 0; i < 3; i++) {
      await new Promise(resolve => setTimeout(resolve, 150))
      for (const op of ['unload', 'load']) {
        admin.push([op, (await post(`/v2/repository/models/iris/${op}`)).statusCode])
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    }
  }
  await Promise.all([loop('A'), loop('A'), loop('A'), loop('A'), loop('B'), cycle()])
  t.comment(`A: ${JSON.stringify([...statuses.A])}, B: ${JSON.stringify([...statuses.B])}`)
  t.strictSame(admin, [['unload', 200], ['load', 200], ['unload', 200], ['load', 200], ['unload', 200], ['load', 200]], 'every unload and load answered 200')
  t.strictSame(unexpected, [], 'A only 200 or 503 (for being unloaded), B only 200')
  t.ok((statuses.A.get(503) ?? 0) > 0, 'some A requests met the model unloaded: the test did exercise the window')
  t.ok((statuses.A.get(200) ?? 0) > 0, 'and some were answered')
  t.ok((statuses.B.get(200) ?? 0) > 0, 'B answered throughout')
  t.equal(app.models.registry.entry('iris').state, 'READY', 'A serves again at the end')
  t.equal((await predict('iris')).statusCode, 200)
})

t.test('concurrent load and unload pairs: each reply says what that operation did, not what a later one did', async t => {
  // Every pool load of the storm with its outcome, recorded by the load
  // itself: the truth the replies are checked against.
  const poolLoads: Array<{ model: string, ok: boolean }> = []
  const realLoad = PlacedRuntime.prototype.load
  t.teardown(() => { PlacedRuntime.prototype.load = realLoad })
  PlacedRuntime.prototype.load = async function (this: PlacedRuntime, key: string, path: string) {
    const model = key.split('/')[0]
    try {
      const metadata = await realLoad.call(this, key, path)
      poolLoads.push({ model, ok: true })
      return metadata
    } catch (error) {
      poolLoads.push({ model, ok: false })
      throw error
    }
  }

  // 20 pairs on iris (which loads) and 5 on broken (which cannot), all in flight at once.
  const pairs = (name: string, count: number): Array<Promise<{ name: string, op: string, res: LightMyRequestResponse }>> =>
    Array.from({ length: count }, () => ['load', 'unload']).flat()
      .map(op => post(`/v2/repository/models/${name}/${op}`).then(res => ({ name, op, res })))
  const replies = await Promise.all([...pairs('iris', 20), ...pairs('broken', 5)])
  const of = (name: string, op: string): LightMyRequestResponse[] => replies.filter(r => r.name === name && r.op === op).map(r => r.res)

  const irisLoads = of('iris', 'load')
  t.same(irisLoads.map(res => res.statusCode), Array(20).fill(200), `every iris load answered 200; got ${JSON.stringify(irisLoads.filter(res => res.statusCode !== 200).map(res => res.body))}`)
  t.equal(poolLoads.filter(load => load.model === 'iris' && load.ok).length, 20, 'and 20 iris loads really loaded: a 200 for each load that succeeded')
  t.equal(poolLoads.filter(load => load.model === 'iris' && !load.ok).length, 0)
  t.same(of('iris', 'unload').map(res => res.statusCode), Array(20).fill(200), 'every iris unload answered 200')

  const brokenLoads = of('broken', 'load')
  t.equal(poolLoads.filter(load => load.model === 'broken' && !load.ok).length, 5, 'every broken load failed')
  for (const res of brokenLoads) {
    assertV2Error(t, res, 400, /^failed to load model 'broken': version 1: .*not a valid ONNX model: re-export it/)
  }
  t.same(of('broken', 'unload').map(res => res.statusCode), Array(5).fill(200))
  const unloadingReplies = replies.filter(r => r.op === 'load' && /unload/.test(r.res.body)).map(r => r.res.body)
  t.same(unloadingReplies, [], 'no load is answered with the state a later unload left')

  // Put iris back for whatever runs next.
  t.equal((await post('/v2/repository/models/iris/load')).statusCode, 200)
  t.equal((await predict('iris')).statusCode, 200)
})

t.test('a repository call with a JSON content type and no body is taken as {}', async t => {
  const app = await buildApp(t)
  const res = await app.inject({ method: 'POST', url: '/v2/repository/index', headers: { 'content-type': 'application/json' } })
  t.equal(res.statusCode, 200)
  t.same((res.json() as Array<{ name: string }>).map(row => row.name), ['iris', 'iris-petal-width'])
})
