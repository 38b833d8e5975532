// MODEL_CONTROL_MODE=poll on a real repository folder, changed while a
// client predicts without a pause: new versions go live, a file still being
// written is not loaded, a broken version never serves nor interrupts the
// good one, removed versions and models stop serving, a changed config.json
// is applied, and not one of the client's requests fails.

import { cpSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { buildApp, bundledRepository } from '../helpers/build-app'
import { parse, valueOf } from '../helpers/metrics'

const ROW = [5.1, 3.5, 1.4, 0.2]
const irisBytes = readFileSync(join(bundledRepository, 'iris', '1', 'model.onnx'))

async function waitFor (what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<number> {
  const started = Date.now()
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(50)
  }
  return Date.now() - started
}

t.test('the repository followed while a client predicts', async t => {
  const repository = t.testdir()
  cpSync(join(bundledRepository, 'iris'), join(repository, 'iris'), { recursive: true })
  const app = await buildApp(t, { MODEL_REPOSITORY: repository, MODEL_CONTROL_MODE: 'poll', REPOSITORY_POLL_SECS: '1' })
  /** Written aside (a name no model can have), then renamed into place: the way the README asks for. */
  const place = (target: string, fill: (dir: string) => void): void => {
    const staging = join(repository, '.staging')
    rmSync(staging, { recursive: true, force: true })
    mkdirSync(staging)
    fill(staging)
    renameSync(staging, join(repository, target))
  }
  const metric = async (name: string, labels: Record<string, string>): Promise<number> => valueOf(parse((await app.inject({ url: '/metrics' })).body), name, labels)

  // The client: iris without a version, one request after another.
  const answers = new Map<string, number>()
  const failures: string[] = []
  let latest = ''
  const stopped = new AbortController()
  const client = (async () => {
    while (!stopped.signal.aborted) {
      const res = await app.inject({ method: 'POST', url: '/v2/models/iris/infer', payload: { inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 4], data: ROW }] } })
      if (res.statusCode !== 200) failures.push(`${res.statusCode} ${res.body}`)
      else latest = res.json<{ model_version: string }>().model_version
      answers.set(latest, (answers.get(latest) ?? 0) + 1)
      await new Promise(resolve => setImmediate(resolve))
    }
  })()
  t.teardown(async () => { stopped.abort(); await client })
  await waitFor('a first answer', () => latest === '1')

  let ms = await waitFor('version 2 to serve', () => latest === '2', 0).catch(() => undefined)
  t.equal(ms, undefined, 'nothing changes before the repository does')
  place('iris/2', dir => writeFileSync(join(dir, 'model.onnx'), irisBytes))
  ms = await waitFor('version 2 to serve', () => latest === '2')
  t.comment(`a new version served ${ms} ms after it was renamed into place (polling every 1 s)`)
  t.ok(ms < 4000, 'within two poll periods and its load')

  // Written in place, slowly: each scan sees another size, so it loads only once complete.
  mkdirSync(join(repository, 'iris', '3'))
  const file = openSync(join(repository, 'iris', '3', 'model.onnx'), 'w')
  const chunk = Math.ceil(irisBytes.length / 16)
  for (let offset = 0; offset < irisBytes.length; offset += chunk) {
    writeSync(file, irisBytes.subarray(offset, offset + chunk))
    await sleep(180)
  }
  closeSync(file)
  await waitFor('version 3 to serve', () => latest === '3')
  t.equal(await metric('onnx_serve_model_loads_total', { model: 'iris', outcome: 'failed' }), 0, 'the half-written file was never loaded')

  // A broken version: reported, never served, and the good one serves on.
  place('iris/4', dir => writeFileSync(join(dir, 'model.onnx'), 'not a model'))
  await waitFor('the broken version to be reported', async () => await metric('onnx_serve_model_versions_failed', { model: 'iris' }) === 1)
  const index = (await app.inject({ method: 'POST', url: '/v2/repository/index', payload: {} })).json<Array<Record<string, string>>>()
  t.match(index.filter(row => row.name === 'iris'), [
    { version: '1', state: 'UNAVAILABLE' },
    { version: '2', state: 'UNAVAILABLE' },
    { version: '3', state: 'READY' },
    { version: '4', state: 'UNAVAILABLE', reason: /^version 4: .*not a valid ONNX model/ }
  ])
  await sleep(300)
  t.equal(latest, '3', 'version 3 still serves')

  // Removed versions: the newest left serves.
  rmSync(join(repository, 'iris', '4'), { recursive: true })
  rmSync(join(repository, 'iris', '3'), { recursive: true })
  await waitFor('version 2 to serve again', () => latest === '2')
  t.equal(await metric('onnx_serve_model_versions_failed', { model: 'iris' }), 0, 'the broken version is gone, and so is its report')

  // A changed config.json.
  const config = JSON.parse(readFileSync(join(repository, 'iris', 'config.json'), 'utf8')) as Record<string, unknown>
  writeFileSync(join(repository, 'iris', 'config.json.new'), JSON.stringify({ ...config, max_batch_size: 32 }))
  renameSync(join(repository, 'iris', 'config.json.new'), join(repository, 'iris', 'config.json'))
  await waitFor('the new config.json to apply', async () => (await app.inject({ url: '/v2/models/iris/config' })).json<{ max_batch_size: number }>().max_batch_size === 32)

  // A new model, then gone.
  place('petal', dir => cpSync(join(bundledRepository, 'iris-petal-width'), dir, { recursive: true }))
  await waitFor('the new model to serve', async () => (await app.inject({ url: '/v2/models/petal/ready' })).statusCode === 200)
  rmSync(join(repository, 'petal'), { recursive: true })
  await waitFor('the removed model to stop serving', async () => (await app.inject({ url: '/v2/models/petal/ready' })).statusCode !== 200)
  t.equal(await metric('onnx_serve_model_unloads_total', { model: 'petal' }), 1)

  // The admin API does not fight the folder.
  const load = await app.inject({ method: 'POST', url: '/v2/repository/models/iris/load', payload: {} })
  t.equal(load.statusCode, 400)
  t.match(load.json<{ error: string }>().error, /not allowed while the repository is polled \(MODEL_CONTROL_MODE=poll\)/)

  stopped.abort()
  await client
  const total = [...answers.values()].reduce((a, b) => a + b, 0)
  t.comment(`${total} requests: ${JSON.stringify(Object.fromEntries(answers))} by version`)
  t.same(failures.slice(0, 5), [], 'not one request failed')
  t.ok(total > 100, 'the client kept predicting throughout')
  t.ok(await metric('onnx_serve_repository_scan_seconds', {}) > 0, 'the last scan\'s time is exported')
})

t.test('MODEL_CONTROL_MODE=none: the repository as read at start; the admin API says so', async t => {
  const app = await buildApp(t, { MODEL_CONTROL_MODE: 'none' })
  for (const action of ['load', 'unload']) {
    const res = await app.inject({ method: 'POST', url: `/v2/repository/models/iris/${action}`, payload: {} })
    t.equal(res.statusCode, 400, action)
    t.match(res.json<{ error: string }>().error, /^explicit model load and unload are not allowed with MODEL_CONTROL_MODE=none/)
  }
  t.equal((await app.inject({ url: '/v2/models/iris/ready' })).statusCode, 200, 'iris serves on')
})
