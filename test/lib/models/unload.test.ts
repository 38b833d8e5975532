import t from 'tap'
import { caught } from '../../helpers/caught'
import { cpSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { NotFoundError, UnavailableError } from '../../../lib/errors'
import { InferencePool } from '../../../lib/runtime/inference-pool'
import type { TimedRun } from '../../../lib/runtime/model-runtime'
import { ModelManager, type ModelEntry, type RepositoryIndexRow } from '../../../lib/models/manager'
import type { TensorMap } from '../../../lib/tensors/tensor'
import { fixtureRepository } from '../../helpers/build-app'

/** A pool whose runs of some sessions wait at a gate, and which records its loads and unloads in order. */
class GatedPool extends InferencePool {
  gated: (key: string) => boolean = () => false
  gate: Promise<void> = Promise.resolve()
  calls: string[] = []
  /** Loads of the keys this picks fail as onnxruntime fails on a bad file, naming the file's absolute path. */
  failLoad: (key: string) => boolean = () => false
  /** Every load's outcome, in call order: what each load really did. */
  loads: Array<{ key: string, ok: boolean }> = []

  /** Closes the gate for the keys `gated` picks; returns the function that opens it. */
  closeGate (gated: (key: string) => boolean): () => void {
    let open: () => void = () => {}
    this.gate = new Promise(resolve => { open = resolve })
    this.gated = gated
    return () => {
      this.gated = () => false
      open()
    }
  }

  override async runTimed (key: string, feeds: TensorMap, fetches: string[], deadline?: number): Promise<TimedRun> {
    if (this.gated(key)) await this.gate
    return await super.runTimed(key, feeds, fetches, deadline)
  }

  override async load (key: string, path: string): ReturnType<InferencePool['load']> {
    this.calls.push(`load ${key}`)
    if (this.failLoad(key)) {
      this.loads.push({ key, ok: false })
      throw new Error(`Load model from ${path} failed:Protobuf parsing failed.`)
    }
    const metadata = await super.load(key, path)
    this.loads.push({ key, ok: true })
    return metadata
  }

  override async unload (key: string): Promise<void> {
    this.calls.push(`unload ${key}`)
    return super.unload(key)
  }
}

const sumFeeds = (): TensorMap => ({ x: { type: 'float32', dims: [1, 3], data: Float32Array.from([1, 2, 3]) } })
const mixedFeeds = (): TensorMap => ({
  a: { type: 'float64', dims: [1, 2], data: Float64Array.of(1.5, 2) },
  b: { type: 'int64', dims: [1, 1], data: BigInt64Array.of(3n) },
  c: { type: 'int32', dims: [1], data: Int32Array.of(7) },
  flag: { type: 'bool', dims: [1, 1], data: Uint8Array.of(1) }
})

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

// One pool, repository and manager for the file: workers are slow to start under the test runner.
const pool = new GatedPool({ workers: 1, threadsPerSession: 1, maxPending: 16, timeoutMs: 30_000 })
const repository = fixtureRepository(t)
const manager = new ModelManager(pool, { repository })
t.teardown(() => manager.close())

t.before(() => manager.loadAll())

t.test('unload waits for the runs in flight, refuses new ones with 503, then releases the sessions', async t => {
  const model = manager.registry.get('mixed')
  const open = pool.closeGate(key => key === model.key)
  t.teardown(open)
  const running = manager.run(model, mixedFeeds())
  t.equal(model.inflight, 1, 'the run holds the version')

  const unloading = manager.unload('mixed')
  await sleep(200)
  t.equal(manager.registry.entry('mixed').state, 'UNLOADING', 'UNLOADING while the run is in flight')
  t.notOk(pool.calls.includes(`unload ${model.key}`), 'the session is not released while a run holds it')
  const duringGet = caught(() => manager.registry.get('mixed'))
  t.type(duringGet, UnavailableError)
  t.match(duringGet, { statusCode: 503, message: "model 'mixed' is unloading" }, 'get() answers 503 while unloading')
  await t.rejects(manager.run(model, mixedFeeds()), {
    statusCode: 503,
    message: "model 'mixed' version 1 is no longer loaded (unloaded or replaced by a reload); retry the request"
  }, 'a request that got the version before the unload is refused, not sent to a session being released')

  open()
  const outputs = await running
  t.same(Array.from(outputs.total.data as Float64Array), [6.5], 'the held run is answered by its session')
  const entry = await unloading
  t.equal(entry, manager.registry.entry('mixed'), 'unload returns the entry, which stays listed')
  t.equal(entry.state, 'UNAVAILABLE')
  t.equal(entry.reason, 'unloaded')
  t.equal(entry.loaded.size, 0)
  t.same(entry.versions, [1], 'the versions in the repository are still known')
  t.equal(model.inflight, 0)
  t.ok(pool.calls.includes(`unload ${model.key}`), 'the session left the pool after the run')
  await t.rejects(pool.run(model.key, mixedFeeds(), ['total']), { message: `model ${model.key} is not loaded in this worker` },
    'the worker no longer holds the session')
  t.ok(manager.registry.list().some(listed => listed.name === 'mixed' && listed.state === 'UNAVAILABLE'), 'listed as UNAVAILABLE')
})

t.test('after unload: get() is 503 with the reason; a name never in the repository is 404', async t => {
  await manager.unload('static')
  const error = caught(() => manager.registry.get('static'))
  t.type(error, UnavailableError)
  t.match(error, { statusCode: 503, message: "model 'static' is unavailable: unloaded" })
  const unknown = caught(() => manager.registry.get('nope'))
  t.type(unknown, NotFoundError)
  t.match(unknown, { name: 'NotFoundError', statusCode: 404 })
  t.equal(manager.registry.notReadyReason(), undefined, 'the other models still serve, so the server stays ready')
})

t.test('unload and load of a name that is not a folder of the repository: 404 with the place to put it', async t => {
  const message = (name: string): string =>
    `model '${name}' is not in the model repository: there is no folder '${name}' in it; put the model at ${name}/1/model.onnx`
  await t.rejects(manager.unload('nope'), new NotFoundError(message('nope')), 'unload unknown')
  await t.rejects(manager.load('nope'), new NotFoundError(message('nope')), 'load unknown')
  await t.rejects(manager.load('nope'), { name: 'NotFoundError', statusCode: 404 })
  writeFileSync(join(repository, 'afile'), 'not a folder')
  await t.rejects(manager.load('afile'), { statusCode: 404, message: message('afile') }, 'a file is not a model folder')
  await t.rejects(manager.load('../outside'), { name: 'NotFoundError', statusCode: 404 }, 'a name with a separator never leaves the repository')
  await t.rejects(manager.load('.hidden'), { name: 'NotFoundError', statusCode: 404 }, 'nor a dotted name')
  t.notOk(manager.registry.list().some(entry => ['nope', 'afile'].includes(entry.name)), 'nothing was added for them')
})

t.test('load after unload serves again, under a new session key', async t => {
  const before = pool.calls.filter(call => call.startsWith('unload sum/')).length
  const old = manager.registry.get('sum')
  await manager.unload('sum')
  t.equal(pool.calls.filter(call => call.startsWith('unload sum/')).length, before + 1, 'one session released')
  const entry = await manager.load('sum')
  t.equal(entry.state, 'READY')
  t.equal(entry.reason, undefined, 'the unloaded reason is gone')
  const model = manager.registry.get('sum')
  t.not(model.key, old.key)
  t.equal(model.version, 2)
  const outputs = await manager.run(model, sumFeeds())
  t.same(Array.from(outputs.y.data as Float32Array), [12], 'version 2 doubles the sum')
})

t.test('a model folder added after start loads; unloading one never loaded has nothing to release', async t => {
  cpSync(join(repository, 'sum'), join(repository, 'late'), { recursive: true })
  t.throws(() => manager.registry.get('late'), { name: 'NotFoundError', statusCode: 404 }, 'not known before its load')
  const calls = pool.calls.length
  const never = await manager.unload('late')
  t.match(never, { name: 'late', state: 'UNAVAILABLE', reason: 'not loaded', versions: [1, 2] })
  t.equal(pool.calls.length, calls, 'no pool call')
  t.throws(() => manager.registry.get('late'), { name: 'NotFoundError', statusCode: 404 }, 'still not known')
  const entry = await manager.load('late')
  t.equal(entry.state, 'READY')
  const outputs = await manager.run(manager.registry.get('late'), sumFeeds())
  t.same(Array.from(outputs.y.data as Float32Array), [12])
})

t.test('a load and an unload of one model at the same time run one after the other, in call order', async t => {
  const old = manager.registry.get('zipmap')
  // The load's warm-up run waits at the gate: the unload must wait for the whole load.
  const open = pool.closeGate(key => key.startsWith('zipmap/') && key !== old.key)
  t.teardown(open)
  const from = pool.calls.length
  const loading = manager.load('zipmap')
  const unloading = manager.unload('zipmap')
  await sleep(300)
  const pending = pool.calls.slice(from)
  t.equal(pending.length, 1, 'only the load reached the pool')
  t.match(pending[0], /^load zipmap\/1#\d+$/)
  t.equal(manager.registry.entry('zipmap').state, 'READY', 'the unload has not started: the old sessions still serve')
  t.equal(manager.registry.get('zipmap'), old)
  open()
  const loaded = await loading
  const fresh = loaded.loaded.get(1)
  t.ok(fresh, 'the load completed with a new version')
  const unloaded = await unloading
  t.equal(unloaded.state, 'UNAVAILABLE', 'the unload, called second, has the last word')
  t.equal(unloaded.reason, 'unloaded')
  t.same(pool.calls.slice(from), [pending[0], `unload ${old.key}`, `unload ${fresh?.key ?? ''}`],
    'load, the reload releasing the old session, then the unload releasing the new one')
  t.equal(fresh?.released, true)
  t.throws(() => manager.registry.get('zipmap'), { name: 'UnavailableError', statusCode: 503 })

  // And the other way round: unload then load ends READY
  const unloadFirst = manager.unload('zipmap')
  const loadSecond = manager.load('zipmap')
  const [first, second] = await Promise.all([unloadFirst, loadSecond])
  t.equal(first.reason, 'unloaded')
  t.equal(second.state, 'READY')
  t.equal(manager.registry.entry('zipmap').state, 'READY', 'the load, called second, has the last word')
  const outputs = await manager.run(manager.registry.get('zipmap'), { float_input: { type: 'float32', dims: [1, 2], data: Float32Array.of(1, 0) } })
  t.same(Array.from(outputs.output_label.data as BigInt64Array), [0n])
})

t.test('concurrent load and unload pairs: each resolves to what it did, which later operations never change', async t => {
  cpSync(join(repository, 'mixed'), join(repository, 'pairs'), { recursive: true })
  // Every third load fails in the pool, so outcomes differ from one load to the next.
  let attempts = 0
  pool.failLoad = key => key.startsWith('pairs/') && ++attempts % 3 === 0
  t.teardown(() => { pool.failLoad = () => false })
  const fromCall = pool.calls.length
  const fromLoad = pool.loads.length

  // What a caller sees the moment its promise settles, as the load route reads it.
  const seen = (promise: Promise<ModelEntry>): Promise<{ state: string, reason?: string }> =>
    promise.then(entry => ({ state: entry.state, reason: entry.reason }))
  const pairs = Array.from({ length: 12 }, () => ({ load: manager.load('pairs'), unload: manager.unload('pairs') }))
  const atLoad = await Promise.all(pairs.map(pair => seen(pair.load)))
  const atUnload = await Promise.all(pairs.map(pair => seen(pair.unload)))

  // The operation queue's history: one model, one operation at a time, in call order.
  const loads = pool.loads.slice(fromLoad)
  t.same(loads.map(load => load.ok), Array.from({ length: 12 }, (_, i) => (i + 1) % 3 !== 0), 'twelve loads reached the pool, every third failed')
  const calls = pool.calls.slice(fromCall)
  t.same(calls, loads.flatMap(load => [`load ${load.key}`, `unload ${load.key}`]),
    'each load, then the release of its session (by the unload after it, or by the failed load itself) before the next load starts')

  const failure = 'version 1: Load model from pairs/1/model.onnx failed:Protobuf parsing failed. The file is not a valid ONNX model: re-export it (torch.onnx.export, skl2onnx.to_onnx) and check it with onnx.checker.check_model'
  t.same(atLoad, loads.map(load => load.ok ? { state: 'READY', reason: undefined } : { state: 'UNAVAILABLE', reason: failure }),
    'a load resolves READY exactly when it loaded, else UNAVAILABLE with its own failure, never the state a later unload left')
  t.same(await Promise.all(pairs.map(pair => seen(pair.load))), atLoad, 'and says so still after every operation has run')
  t.same(atUnload, Array(12).fill({ state: 'UNAVAILABLE', reason: 'unloaded' }), 'each unload resolves unloaded')
  t.match(manager.registry.entry('pairs'), { state: 'UNAVAILABLE', reason: 'unloaded' }, 'the last operation, an unload, has the last word')
})

t.test('a failed operation does not block the next one on the same name', async t => {
  await t.rejects(manager.load('gone'), { name: 'NotFoundError', statusCode: 404 })
  mkdirSync(join(repository, 'gone', '1'), { recursive: true })
  cpSync(join(repository, 'sum', '1', 'model.onnx'), join(repository, 'gone', '1', 'model.onnx'))
  const entry = await manager.load('gone')
  t.equal(entry.state, 'READY')
})

t.test('repository index: one row per version, with state and reason', async t => {
  mkdirSync(join(repository, 'added-later', '3'), { recursive: true })
  cpSync(join(repository, 'sum', '1', 'model.onnx'), join(repository, 'added-later', '3', 'model.onnx'))
  await manager.unload('mixed')
  const rows = await manager.repositoryIndex()
  const byName = (name: string): RepositoryIndexRow[] => rows.filter(row => row.name === name)
  t.same(byName('added-later'), [{ name: 'added-later', version: '3', state: 'UNAVAILABLE', reason: 'not loaded' }], 'a folder never loaded')
  t.same(byName('mixed'), [{ name: 'mixed', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' }])
  t.same(byName('sum'), [
    { name: 'sum', version: '1', state: 'UNAVAILABLE', reason: 'not served by version_policy "latest"' },
    { name: 'sum', version: '2', state: 'READY', reason: '' }
  ], 'a version the policy does not serve')
  t.same(byName('empty'), [{ name: 'empty', state: 'UNAVAILABLE', reason: manager.registry.entry('empty').reason }], 'no version: one row without one')
  t.match(byName('broken'), [{ name: 'broken', version: '1', state: 'UNAVAILABLE', reason: /^version 1: .*not a valid ONNX model/ }])
  t.same(rows.map(row => row.name), [...rows.map(row => row.name)].sort((a, b) => a.localeCompare(b)), 'sorted by name')
  t.notOk(rows.some(row => row.name === 'afile'), 'a file is not a model')
  t.same(await manager.repositoryIndex(), rows, 'listing changes nothing')
})

t.test('repository index: LOADING and UNLOADING, a version added after the load, an unreadable repository', async t => {
  const rowsOf = async (name: string): Promise<RepositoryIndexRow[]> => (await manager.repositoryIndex()).filter(row => row.name === name)

  // mixed is unloaded: its load shows LOADING while the warm-up waits at the gate
  let open = pool.closeGate(key => key.startsWith('mixed/'))
  t.teardown(open)
  const loading = manager.load('mixed')
  await sleep(200)
  t.same(await rowsOf('mixed'), [{ name: 'mixed', version: '1', state: 'LOADING', reason: '' }])
  open()
  await loading
  t.same(await rowsOf('mixed'), [{ name: 'mixed', version: '1', state: 'READY', reason: '' }])

  const model = manager.registry.get('mixed')
  open = pool.closeGate(key => key === model.key)
  const running = manager.run(model, mixedFeeds())
  const unloading = manager.unload('mixed')
  await sleep(100)
  t.same(await rowsOf('mixed'), [{ name: 'mixed', version: '1', state: 'UNLOADING', reason: '' }])
  open()
  await running
  await unloading
  t.same(await rowsOf('mixed'), [{ name: 'mixed', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' }])

  mkdirSync(join(repository, 'sum', '7'))
  cpSync(join(repository, 'sum', '1', 'model.onnx'), join(repository, 'sum', '7', 'model.onnx'))
  t.same((await rowsOf('sum')).map(row => [row.version, row.state, row.reason]), [
    ['1', 'UNAVAILABLE', 'not served by version_policy "latest"'],
    ['2', 'READY', ''],
    ['7', 'UNAVAILABLE', 'not loaded: the version appeared after the model was loaded; load the model again to serve it']
  ], 'a version folder added after the load')
  await manager.load('sum')
  t.same((await rowsOf('sum')).map(row => [row.version, row.state]), [['1', 'UNAVAILABLE'], ['2', 'UNAVAILABLE'], ['7', 'READY']], 'served once loaded again')

  const missingRoot = join(repository, 'missing')
  const elsewhere = new ModelManager(pool, { repository: missingRoot })
  await t.rejects(elsewhere.repositoryIndex(), new UnavailableError('cannot read the model repository: ENOENT: no such file or directory; make MODEL_REPOSITORY a readable folder (the server log names the folder)'))
  await t.rejects(elsewhere.repositoryIndex(), { name: 'UnavailableError', statusCode: 503 })
})
