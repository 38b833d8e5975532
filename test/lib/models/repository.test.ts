import t from 'tap'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  MODEL_FILE, isValidModelName, modelPath, readModelSource, scanModelRepository, shownPath, withoutPath, type ModelSource
} from '../../../lib/models/repository'
import { buildFixtureRepository, fixtureModels } from '../../helpers/fixture-repository'

function byName (sources: ModelSource[]): Record<string, ModelSource> {
  return Object.fromEntries(sources.map(source => [source.name, source]))
}

/** A model folder with the given version folders (each holding a model file) and config text. */
function writeModel (root: string, name: string, versions: string[], config?: string): void {
  mkdirSync(join(root, name), { recursive: true })
  for (const version of versions) {
    mkdirSync(join(root, name, version), { recursive: true })
    writeFileSync(join(root, name, version, MODEL_FILE), 'not read by the scan')
  }
  if (config !== undefined) writeFileSync(join(root, name, 'config.json'), config)
}

t.test('scans the fixture repository', async t => {
  const root = t.testdir()
  buildFixtureRepository(root)
  const sources = await scanModelRepository(root)
  t.same(sources.map(source => source.name), [...fixtureModels.failing, ...fixtureModels.servable].sort(), 'every model folder, by name')
  const models = byName(sources)

  t.same(models.sum.versions, [1, 2], "versions ascending, 'notaversion' skipped")
  t.same(models.sum.served, [2], 'the default policy serves the latest')
  t.equal(models.sum.error, undefined)
  t.same(models.sum.config, {})
  t.equal(models.sum.dir, join(root, 'sum'))
  t.equal(modelPath(models.sum, 2), join(root, 'sum', '2', 'model.onnx'))

  t.same(models.mixed.config, { max_batch_size: 8 })
  t.same(models.static.config, { max_batch_size: 0 })
  t.equal(models.broken.error, undefined, 'a bad file is found by loading it, not by the scan')
  t.same(models.broken.served, [1])

  t.equal(models.badconfig.error,
    "config.json: unknown key 'colour'; allowed keys: description, labels, max_batch_size, dynamic_batching, version_policy, cache, prediction_output, placement, warmup")
  t.same(models.badconfig.config, {}, 'a refused config is not half applied')
  t.same(models.badconfig.versions, [1])

  t.equal(models.empty.error, 'no version found; put the model at empty/1/model.onnx', 'relative to the repository: no server path')
  t.same(models.empty.versions, [])
  t.same(models.empty.served, [])
})

t.test('version folders: positive integers holding model.onnx, sorted as numbers', async t => {
  const root = t.testdir()
  writeModel(root, 'm', ['10', '2', '1', '0', '01', 'v3', '1.5', '-4'])
  mkdirSync(join(root, 'm', '5')) // no model file
  mkdirSync(join(root, 'm', '6', MODEL_FILE), { recursive: true }) // model.onnx is a folder
  writeFileSync(join(root, 'm', '7'), 'a file, not a folder')
  const source = await readModelSource(root, 'm')
  t.same(source.versions, [1, 2, 10])
  t.same(source.served, [10])
  t.equal(source.error, undefined)
})

t.test('model folders: invalid names and plain files are skipped', async t => {
  const root = t.testdir({ 'README.md': 'notes', '.git': {}, 'bad name': {} })
  writeModel(root, 'ok', ['1'])
  writeModel(root, '.hidden', ['1'])
  writeModel(root, '-dash', ['1'])
  t.same((await scanModelRepository(root)).map(source => source.name), ['ok'])
  t.same(await scanModelRepository(t.testdir()), [], 'an empty repository is no error')
  await t.rejects(scanModelRepository(join(root, 'missing')), { code: 'ENOENT' }, 'a missing repository is')
})

t.test('symlinked model and version folders are followed (Kubernetes mounts volumes through them)', async t => {
  const base = t.testdir({ models: {}, elsewhere: {} })
  const root = join(base, 'models')
  const elsewhere = join(base, 'elsewhere')
  writeModel(elsewhere, 'target', ['1', '3'], '{"version_policy": "all"}')
  symlinkSync(join(elsewhere, 'target'), join(root, 'linked'), 'dir')
  writeModel(root, 'plain', ['1'])
  writeModel(elsewhere, 'versions', ['7'])
  symlinkSync(join(elsewhere, 'versions', '7'), join(root, 'plain', '2'), 'dir')
  // A link to a model file is followed too
  mkdirSync(join(root, 'plain', '4'))
  symlinkSync(join(elsewhere, 'versions', '7', MODEL_FILE), join(root, 'plain', '4', MODEL_FILE), 'file')
  // Links that lead nowhere or to a file are skipped like any other non-folder
  symlinkSync(join(elsewhere, 'missing'), join(root, 'dangling'), 'dir')
  symlinkSync(join(elsewhere, 'versions', '7', MODEL_FILE), join(root, 'filelink'), 'file')
  symlinkSync(join(elsewhere, 'missing'), join(root, 'plain', '5'), 'dir')
  symlinkSync(join(elsewhere, 'versions', '7', MODEL_FILE), join(root, 'plain', '6'), 'file')
  // An invalid name is refused even through a link
  symlinkSync(join(elsewhere, 'target'), join(root, '.hidden-link'), 'dir')

  const models = byName(await scanModelRepository(root))
  t.same(Object.keys(models), ['linked', 'plain'])
  t.same(models.linked.versions, [1, 3], 'a linked model folder is read through the link')
  t.same(models.linked.served, [1, 3])
  t.same(models.linked.config, { version_policy: 'all' }, 'its config.json too')
  t.equal(models.linked.dir, join(root, 'linked'), 'the model is named and found by its link')
  t.equal(modelPath(models.linked, 3), join(root, 'linked', '3', MODEL_FILE))
  t.same(models.plain.versions, [1, 2, 4], 'linked version folders and model files count; dangling links and links to files do not')
  t.equal(models.plain.error, undefined)
  t.same((await readModelSource(root, 'linked')).versions, [1, 3], 'readModelSource follows the link as well')
})

t.test('version_policy', async t => {
  const root = t.testdir()
  writeModel(root, 'all', ['1', '2', '3'], '{"version_policy": "all"}')
  writeModel(root, 'list', ['1', '2', '3'], '{"version_policy": [3, 1, 9]}')
  writeModel(root, 'latest', ['1', '2', '3'], '{"version_policy": "latest"}')
  writeModel(root, 'latest2', ['1', '2', '3'], '{"version_policy": {"latest": 2}}')
  writeModel(root, 'none', ['1', '2'], '{"version_policy": [7]}')
  writeModel(root, 'newest', ['1'], '{"version_policy": "newest"}')
  writeModel(root, 'emptylist', ['1'], '{"version_policy": []}')
  const models = byName(await scanModelRepository(root))
  t.same(models.all.served, [1, 2, 3])
  t.same(models.list.served, [1, 3], 'listed versions that exist, ascending')
  t.equal(models.list.error, undefined)
  t.same(models.latest.served, [3])
  t.same(models.latest2.served, [2, 3], 'the newest two')
  t.same(models.none.served, [])
  t.equal(models.none.error, 'version_policy [7] matches none of the versions found (1, 2)')
  t.equal(models.newest.error,
    'config.json: version_policy: expected "latest" or "all" or a non-empty list of integers or {"latest": an integer}, received "newest"')
  t.equal(models.emptylist.error,
    'config.json: version_policy: expected "latest" or "all" or a non-empty list of integers or {"latest": an integer}, received []')
})

t.test('config.json problems name the key and the fix', async t => {
  const root = t.testdir()
  writeModel(root, 'json', ['1'], '{"max_batch_size": 4,}')
  writeModel(root, 'nested', ['1'], '{"dynamic_batching": {"max_queue_delay_ms": 1, "delay": 2}}')
  writeModel(root, 'negative', ['1'], '{"max_batch_size": -1}')
  writeModel(root, 'labels', ['1'], '{"labels": "setosa"}')
  writeModel(root, 'array', ['1'], '[]')
  writeModel(root, 'ok', ['1'], '{"description": "d", "labels": ["a"], "max_batch_size": 0, "dynamic_batching": {"max_queue_delay_ms": 2, "preferred_batch_size": 8}, "version_policy": "all", "prediction_output": "y", "warmup": [{"name": "small", "inputs": {"x": {"shape": [1, 3], "fill": 0.5}}}]}')
  writeModel(root, 'cache', ['1'], '{"max_batch_size": 4, "cache": true}')
  writeModel(root, 'cachetext', ['1'], '{"cache": "yes"}')
  writeModel(root, 'nofile', [])
  mkdirSync(join(root, 'nofile', 'config.json'))
  const models = byName(await scanModelRepository(root))

  t.match(models.json.error, /^config\.json is not valid JSON \(.+\); fix the file or remove it$/)
  t.equal(models.nested.error, "config.json: unknown key 'delay'; allowed keys: max_queue_delay_ms, preferred_batch_size")
  t.equal(models.negative.error, 'config.json: max_batch_size: expected integer to be greater or equal to 0')
  t.equal(models.labels.error, 'config.json: labels: expected array')
  t.equal(models.array.error, 'config.json: the file: expected object')
  t.equal(models.ok.error, undefined)
  t.same(models.ok.config.dynamic_batching, { max_queue_delay_ms: 2, preferred_batch_size: 8 })
  t.same(models.ok.config.warmup, [{ name: 'small', inputs: { x: { shape: [1, 3], fill: 0.5 } } }])
  t.equal(models.cache.error, undefined)
  t.same(models.cache.config, { max_batch_size: 4, cache: true })
  t.equal(models.cachetext.error, 'config.json: cache: expected boolean')
  // One model's unreadable config must not stop the scan of the others
  t.match(models.nofile.error, /^config\.json cannot be read \(EISDIR/)
  t.same(models.nofile.config, {})
})

t.test('config.json warmup: each problem named by its place in the list', async t => {
  const root = t.testdir()
  const cases: Record<string, [unknown, string]> = {
    notalist: [{ inputs: {} }, 'warmup: expected array'],
    nokey: [[{ name: 'a' }], 'warmup[0].inputs: expected required property'],
    extra: [[{ inputs: {}, batch_size: 4 }], "unknown key 'batch_size'; allowed keys: name, inputs"],
    inputextra: [[{ inputs: { x: { shape: [1], zero_data: true } } }], "unknown key 'zero_data'; allowed keys: shape, fill"],
    noshape: [[{ inputs: { x: { fill: 1 } } }], 'warmup[0].inputs.x.shape: expected required property'],
    zero: [[{ inputs: {} }, { inputs: { x: { shape: [1, 0] } } }], 'warmup[1].inputs.x.shape[1]: expected integer to be greater or equal to 1'],
    fill: [[{ inputs: { x: { shape: [1], fill: [1] } } }], 'warmup[0].inputs.x.fill: expected number or boolean or string, received [1]'],
    toomany: [Array(17).fill({ inputs: {} }), 'warmup: expected array length to be less or equal to 16']
  }
  for (const [name, [warmup]] of Object.entries(cases)) writeModel(root, name, ['1'], JSON.stringify({ warmup }))
  const models = byName(await scanModelRepository(root))
  for (const [name, [, reason]] of Object.entries(cases)) t.equal(models[name].error, `config.json: ${reason}`, name)
})

t.test('what clients are shown: paths inside the repository, file system errors without their path', async t => {
  t.equal(shownPath('iris', '1', MODEL_FILE), 'iris/1/model.onnx')
  const missing = join(t.testdir(), 'iris', 'config.json')
  const error = await readFile(missing).catch((failure: unknown) => failure)
  t.match((error as Error).message, missing, 'node names the absolute path')
  t.equal(withoutPath(error), 'ENOENT: no such file or directory')
  t.equal(withoutPath(new Error('Protobuf parsing failed')), 'Protobuf parsing failed', 'a message naming no path is kept')
  t.equal(withoutPath(Object.assign(new Error(`cannot open ${missing} now`), { path: missing })), 'cannot open the file now',
    'whatever its shape, the path never stays')
})

t.test('isValidModelName', async t => {
  for (const name of ['iris', 'iris-petal-width', 'a.b_c', 'A1', '9', 'x'.repeat(128), 'a..b']) {
    t.ok(isValidModelName(name), `'${name}' is valid`)
  }
  for (const name of ['', '.', '..', '../etc', '../../etc/passwd', 'a/b', 'a\\b', '/abs', '.hidden', '-x', '_x',
    'a b', 'é', 'x'.repeat(129), 'a\nb', 'a\u0000b', '%2e%2e']) {
    t.notOk(isValidModelName(name), `${JSON.stringify(name)} is refused`)
  }
})
