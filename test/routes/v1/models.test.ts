import { cpSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildApp, fixtureRepository } from '../../helpers/build-app'
import { fixtureModels } from '../../helpers/fixture-repository'
import { assertError } from '../../helpers/responses'

// The fixture repository, plus `sum-all`: the two `sum` versions served side by side.
const repository = fixtureRepository(t)
cpSync(join(repository, 'sum'), join(repository, 'sum-all'), { recursive: true })
writeFileSync(join(repository, 'sum-all', 'config.json'), JSON.stringify({ version_policy: 'all', description: 'sum, every version' }))

let app: FastifyInstance
t.before(async () => { app = await buildApp(t, { MODEL_REPOSITORY: repository, DEFAULT_MODEL: 'sum' }) })

const ZIPMAP_FIX = 'sequence and map outputs (such as skl2onnx\'s ZipMap) cannot be returned; ' +
  're-export with skl2onnx options={id(model): {"zipmap": False}} to get a probability tensor'

const badInput = (message: string | RegExp) => ({ statusCode: 400, code: 'ONNX_SERVE_BAD_INPUT', message })
const invalid = (message: string) => ({ statusCode: 400, code: 'FST_ERR_VALIDATION', message })
// A pattern's error says what it expects in words, from the schema's description
const invalidName = invalid('params.name: expected a model name: up to 128 letters, digits, _ . or -, starting with a letter or digit, received a string')
const invalidVersion = invalid('params.version: expected a model version: a positive integer, received a string')
const available = 'badconfig, broken, empty, mixed, static, sum, sum-all, zipmap'

function predict (url: string, payload: unknown): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url, payload: payload as Record<string, unknown> })
}

t.test('GET /v1/models lists every model with its state, failing ones UNAVAILABLE with a reason', async t => {
  const res = await app.inject({ method: 'GET', url: '/v1/models' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  const body = res.json<{ default_model: string, models: Array<Record<string, unknown>> }>()
  t.equal(body.default_model, 'sum')
  t.strictSame(body.models.map(model => model.name), [...fixtureModels.servable, ...fixtureModels.failing, 'sum-all'].sort())
  const byName = Object.fromEntries(body.models.map(model => [model.name, model]))

  t.strictSame(byName.mixed, { name: 'mixed', state: 'READY', versions: [1], served_versions: [1], default_version: 1 })
  t.strictSame(byName.static, { name: 'static', state: 'READY', versions: [1], served_versions: [1], default_version: 1 })
  t.strictSame(byName.sum, { name: 'sum', state: 'READY', versions: [1, 2], served_versions: [2], default_version: 2 }, 'version_policy latest by default')
  t.strictSame(byName['sum-all'], { name: 'sum-all', state: 'READY', versions: [1, 2], served_versions: [1, 2], default_version: 2, description: 'sum, every version' })
  t.strictSame(byName.zipmap, { name: 'zipmap', state: 'READY', versions: [1], served_versions: [1], default_version: 1 })

  t.strictSame(byName.badconfig, {
    name: 'badconfig',
    state: 'UNAVAILABLE',
    versions: [1],
    served_versions: [],
    reason: 'config.json: unknown key \'colour\'; allowed keys: description, labels, max_batch_size, dynamic_batching, version_policy, cache, prediction_output, placement, warmup'
  })
  t.match(byName.broken, { name: 'broken', state: 'UNAVAILABLE', versions: [1], served_versions: [] })
  t.notOk('default_version' in byName.broken)
  t.match(byName.broken.reason, /^version 1: .*Protobuf parsing failed.*The file is not a valid ONNX model: re-export it/)
  t.match(byName.empty, { name: 'empty', state: 'UNAVAILABLE', versions: [], served_versions: [] })
  t.match(byName.empty.reason, /^no version found; put the model at \S*empty\/1\/model\.onnx$/)
  // Paths in reasons are relative to the model repository, never absolute nor relative to the working directory.
  const shown = relative(process.cwd(), repository)
  for (const model of body.models) {
    const reason = String(model.reason ?? '')
    t.notOk(reason.includes(repository) || reason.includes(shown), `${String(model.name)}: the reason does not show the repository's path`)
  }
  t.equal(byName.empty.reason, 'no version found; put the model at empty/1/model.onnx', 'the reason shows the path in the repository')
})

t.test('GET /v1/models/:name', async t => {
  t.test('a multi-input model: inputs and outputs with datatype, shape (-1 dynamic) and dim_names', async t => {
    const res = await app.inject({ method: 'GET', url: '/v1/models/mixed' })
    t.equal(res.statusCode, 200)
    t.strictSame(res.json(), {
      name: 'mixed',
      state: 'READY',
      versions: [1],
      served_versions: [1],
      default_version: 1,
      inputs: [
        { name: 'a', datatype: 'float64', shape: [-1, 2], dim_names: ['batch', null] },
        { name: 'b', datatype: 'int64', shape: [-1, 1], dim_names: ['batch', null] },
        { name: 'c', datatype: 'int32', shape: [-1], dim_names: ['batch'] },
        { name: 'flag', datatype: 'bool', shape: [-1, 1], dim_names: ['batch', null] }
      ],
      outputs: [
        { name: 'total', datatype: 'float64', shape: [-1, 1], dim_names: ['batch', null] },
        { name: 'b_plus_one', datatype: 'int64', shape: [-1, 1], dim_names: ['batch', null] },
        { name: 'c_neg', datatype: 'int32', shape: [-1], dim_names: ['batch'] },
        { name: 'not_flag', datatype: 'bool', shape: [-1, 1], dim_names: ['batch', null] }
      ],
      unserved_outputs: [],
      prediction_output: 'total',
      config: { max_batch_size: 8 },
      ready: true,
      model_version_status: [{ version: '1', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }]
    })
  })

  t.test('a fully static model has no -1 and no dim_names', async t => {
    const res = await app.inject({ method: 'GET', url: '/v1/models/static' })
    t.equal(res.statusCode, 200)
    const body = res.json<Record<string, unknown>>()
    t.strictSame(body.inputs, [{ name: 'x', datatype: 'float32', shape: [2, 2] }])
    t.strictSame(body.outputs, [{ name: 'y', datatype: 'float32', shape: [2, 2] }])
    t.strictSame(body.config, { max_batch_size: 0 })
  })

  t.test('a zipmap model lists its map output as unserved, with the fix', async t => {
    const res = await app.inject({ method: 'GET', url: '/v1/models/zipmap' })
    t.equal(res.statusCode, 200)
    const body = res.json<Record<string, unknown>>()
    t.strictSame(body.outputs, [{ name: 'output_label', datatype: 'int64', shape: [-1], dim_names: ['batch'] }])
    t.strictSame(body.unserved_outputs, [{ name: 'output_probability', reason: ZIPMAP_FIX }])
    t.equal(body.prediction_output, 'output_label')
  })

  t.test('the default version is the newest served', async t => {
    const res = await app.inject({ method: 'GET', url: '/v1/models/sum-all' })
    t.equal(res.statusCode, 200)
    t.match(res.json(), {
      versions: [1, 2],
      served_versions: [1, 2],
      default_version: 2,
      description: 'sum, every version',
      config: { version_policy: 'all', description: 'sum, every version' },
      inputs: [{ name: 'x', datatype: 'float32', shape: [-1, 3], dim_names: ['batch', null] }],
      outputs: [{ name: 'y', datatype: 'float32', shape: [-1, 1], dim_names: ['batch', null] }],
      prediction_output: 'y'
    })
  })

  t.test('an unknown model is a JSON 404 naming the available models', async t => {
    assertError(t, await app.inject({ method: 'GET', url: '/v1/models/nope' }),
      { statusCode: 404, code: 'ONNX_SERVE_NOT_FOUND', message: `model 'nope' not found; available models: ${available}` })
  })

  t.test('an invalid name is a JSON 400', async t => {
    for (const url of ['/v1/models/..%2F..%2Fetc', '/v1/models/.hidden', '/v1/models/a%20b', '/v1/models/-x']) {
      const res = await app.inject({ method: 'GET', url })
      assertError(t, res, invalidName)
    }
    assertError(t, await app.inject({ method: 'GET', url: `/v1/models/${'m'.repeat(129)}` }), invalidName, '129 characters is one too many')
  })

  t.test('a name up to 128 characters reaches the route', async t => {
    for (const name of ['m'.repeat(110), 'm'.repeat(128)]) {
      const res = await app.inject({ method: 'GET', url: `/v1/models/${name}`, headers: { 'x-request-id': `long-name-${name.length}` } })
      assertError(t, res, { statusCode: 404, code: 'ONNX_SERVE_NOT_FOUND', message: `model '${name}' not found; available models: ${available}` })
      t.equal(res.headers['x-request-id'], `long-name-${name.length}`, 'answered by the route, with the request id')
    }
  })

  t.test('a model that cannot be served is a 503 with the reason and retry-after', async t => {
    const res = await app.inject({ method: 'GET', url: '/v1/models/broken' })
    assertError(t, res, { statusCode: 503, code: 'ONNX_SERVE_UNAVAILABLE', message: /^model 'broken' is unavailable: version 1: .*Protobuf parsing failed/ })
    t.equal(res.headers['retry-after'], '5')
    const config = await app.inject({ method: 'GET', url: '/v1/models/badconfig' })
    assertError(t, config, {
      statusCode: 503,
      code: 'ONNX_SERVE_UNAVAILABLE',
      message: 'model \'badconfig\' is unavailable: config.json: unknown key \'colour\'; allowed keys: description, labels, max_batch_size, dynamic_batching, version_policy, cache, prediction_output, placement, warmup'
    })
    const empty = await app.inject({ method: 'GET', url: '/v1/models/empty' })
    assertError(t, empty, { statusCode: 503, code: 'ONNX_SERVE_UNAVAILABLE', message: /^model 'empty' is unavailable: no version found; put the model at / })
  })
})

t.test('GET /v1/models/iris over the bundled models has the labels', async t => {
  const bundled = await buildApp(t)
  const res = await bundled.inject({ method: 'GET', url: '/v1/models/iris' })
  t.equal(res.statusCode, 200)
  const body = res.json<Record<string, unknown>>()
  t.strictSame(body.labels, ['setosa', 'versicolor', 'virginica'])
  t.equal(body.prediction_output, 'label')
  t.strictSame(body.inputs, [{ name: 'features', datatype: 'float32', shape: [-1, 4], dim_names: ['batch', null] }])
  t.strictSame(body.outputs, [
    { name: 'label', datatype: 'int64', shape: [-1], dim_names: ['batch'] },
    { name: 'probabilities', datatype: 'float32', shape: [-1, 3], dim_names: ['batch', null] }
  ])
  t.match(body.config, { labels: ['setosa', 'versicolor', 'virginica'], max_batch_size: 64, prediction_output: 'label' })
  const list = await bundled.inject({ method: 'GET', url: '/v1/models' })
  t.equal(list.json<{ default_model: string }>().default_model, 'iris', 'the default model is the first by name')
})

t.test('POST /v1/models/:name[/versions/:v]/predict', async t => {
  const rows = [[1, 2, 3], [4, 5, 6]]

  t.test('the default version is the newest: sum v2 gives twice the sum, v1 the sum', async t => {
    const newest = await predict('/v1/models/sum-all/predict', { instances: rows })
    t.equal(newest.statusCode, 200)
    t.strictSame(newest.json(), { predictions: [[12], [30]] })
    const v2 = await predict('/v1/models/sum-all/versions/2/predict', { instances: rows })
    t.strictSame(v2.json(), { predictions: [[12], [30]] })
    const v1 = await predict('/v1/models/sum-all/versions/1/predict', { instances: rows })
    t.equal(v1.statusCode, 200)
    t.strictSame(v1.json(), { predictions: [[6], [15]] })
  })

  t.test('a version the policy does not serve is a 404 naming the served ones', async t => {
    assertError(t, await predict('/v1/models/sum/versions/1/predict', { instances: rows }),
      { statusCode: 404, code: 'ONNX_SERVE_NOT_FOUND', message: 'model \'sum\' has no served version 1; served versions: 2' })
  })

  t.test('an unknown version is a 404', async t => {
    assertError(t, await predict('/v1/models/sum-all/versions/3/predict', { instances: rows }),
      { statusCode: 404, code: 'ONNX_SERVE_NOT_FOUND', message: 'model \'sum-all\' has no served version 3; served versions: 1, 2' })
  })

  t.test('an unknown model is a 404 naming the available models', async t => {
    assertError(t, await predict('/v1/models/nope/predict', { instances: rows }),
      { statusCode: 404, code: 'ONNX_SERVE_NOT_FOUND', message: `model 'nope' not found; available models: ${available}` })
    assertError(t, await predict('/v1/models/nope/versions/1/predict', { instances: rows }),
      { statusCode: 404, code: 'ONNX_SERVE_NOT_FOUND', message: `model 'nope' not found; available models: ${available}` })
  })

  t.test('version 0, a negative or a non-integer version is a 400', async t => {
    // The version is a string matched as sent: no leading zero, no exponent, at most 9 digits
    for (const version of ['0', '-1', 'abc', '1.5', '01', '1e0', '+1', '1000000000']) {
      assertError(t, await predict(`/v1/models/sum/versions/${version}/predict`, { instances: rows }), invalidVersion, `version ${version}`)
    }
    assertError(t, await predict('/v1/models/sum/versions/999999999/predict', { instances: rows }),
      { statusCode: 404, code: 'ONNX_SERVE_NOT_FOUND', message: 'model \'sum\' has no served version 999999999; served versions: 2' }, 'nine digits reach the route')
  })

  t.test('an invalid model name is a 400', async t => {
    const res = await predict('/v1/models/..%2F..%2Fetc/predict', { instances: rows })
    assertError(t, res, invalidName)
  })

  t.test('several outputs: each prediction is keyed by output name; int64 as numbers, bool as booleans', async t => {
    const res = await predict('/v1/models/mixed/predict', {
      instances: [
        { a: [0.5, 0.25], b: [10], c: 7, flag: [true] },
        { a: [1, 2], b: [-3], c: -8, flag: [false] }
      ]
    })
    t.equal(res.statusCode, 200)
    t.strictSame(res.json(), {
      predictions: [
        { total: [10.75], b_plus_one: [11], c_neg: -7, not_flag: [false] },
        { total: [0], b_plus_one: [-2], c_neg: 8, not_flag: [true] }
      ]
    })
  })

  t.test('int64 beyond 2^53 comes back as an exact decimal string', async t => {
    const res = await predict('/v1/models/mixed/predict', {
      instances: [{ a: [0, 0], b: ['9007199254740993'], c: 0, flag: [true] }]
    })
    t.equal(res.statusCode, 200)
    t.strictSame(res.json<{ predictions: Array<Record<string, unknown>> }>().predictions[0].b_plus_one, ['9007199254740994'])
  })

  t.test('a multi-input row that is not an object is a 400', async t => {
    assertError(t, await predict('/v1/models/mixed/predict', { instances: [[0.5, 0.25]] }),
      badInput('instances[0]: expected an object keyed by input name (a, b, c, flag), received an array of 2'))
  })

  t.test('a single-output model gives plain values', async t => {
    const res = await predict('/v1/models/static/predict', { instances: [[-1, 2], [-3, 4]] })
    t.equal(res.statusCode, 200)
    t.strictSame(res.json(), { predictions: [[0, 2], [0, 4]] })
  })

  t.test('a zipmap model returns only its tensor output', async t => {
    const res = await predict('/v1/models/zipmap/predict', { instances: [[2, 0], [0, 3]] })
    t.equal(res.statusCode, 200)
    t.strictSame(res.json(), { predictions: [0, 1] })
  })

  t.test('a static model with a fixed batch of 2 refuses 3 instances, naming the fixed batch', async t => {
    assertError(t, await predict('/v1/models/static/predict', { instances: [[-1, 2], [-3, 4], [1, 1]] }),
      badInput('instances: model input \'x\' has a fixed batch dimension of 2 (shape [2, 2]), received 3 rows'))
    assertError(t, await predict('/v1/models/static/predict', { instances: [[-1, 2]] }),
      badInput('instances: model input \'x\' has a fixed batch dimension of 2 (shape [2, 2]), received 1 row'))
  })

  t.test('instances that are not an array is a 400', async t => {
    assertError(t, await predict('/v1/models/sum/predict', { instances: { x: [1, 2, 3] } }),
      invalid('body.instances: must be array, received an object'))
  })

  t.test('a scalar as instances is refused as not an array', async t => {
    assertError(t, await predict('/v1/models/sum/predict', { instances: '1,2,3' }),
      invalid('body.instances: must be array, received a string'))
    assertError(t, await predict('/v1/models/sum/predict', { instances: null }),
      invalid('body.instances: must be array, received null'))
  })

  t.test('empty instances is a 400', async t => {
    assertError(t, await predict('/v1/models/sum/predict', { instances: [] }),
      badInput('instances: expected at least one row, received none'))
  })

  t.test('neither or both of instances and inputs, unknown keys and other signatures are 400s naming the field', async t => {
    const either = badInput('body: expected either instances (rows) or inputs (columns), not both and not neither')
    assertError(t, await predict('/v1/models/sum/predict', {}), either)
    assertError(t, await predict('/v1/models/sum/predict', { instances: rows, inputs: rows }), either)
    assertError(t, await predict('/v1/models/sum/predict', { instances: rows, outputs: ['y'] }), invalid('body.outputs: is not allowed here'))
    assertError(t, await predict('/v1/models/sum/predict', { instances: rows, signature_name: 'classify' }),
      badInput('signature_name: expected \'serving_default\' (an ONNX model has one signature), received \'classify\''))
    t.equal((await predict('/v1/models/sum/predict', { instances: rows, signature_name: 'serving_default' })).statusCode, 200, 'TF Serving clients name the default signature')
  })

  t.test('bad rows name the instance and element', async t => {
    assertError(t, await predict('/v1/models/sum/predict', { instances: [[1, 2, 3], [4, 5]] }),
      badInput('instances[1]: expected an array of 3 (row shape [3] of float32), received an array of 2'))
    assertError(t, await predict('/v1/models/sum/predict', { instances: [[1, 2, 3], [4, null, 6]] }),
      badInput('instances[1][1]: expected a number (float32), received null'))
  })

  t.test('more instances than max_batch_size is a 400', async t => {
    const row = { a: [0, 0], b: [0], c: 0, flag: [false] }
    assertError(t, await predict('/v1/models/mixed/predict', { instances: Array.from({ length: 9 }, () => row) }),
      badInput('instances: at most 8 rows per request for model \'mixed\', received 9'))
  })

  t.test('a model that cannot be served is a 503 with retry-after', async t => {
    for (const name of ['broken', 'badconfig', 'empty']) {
      const res = await predict(`/v1/models/${name}/predict`, { instances: rows })
      assertError(t, res, { statusCode: 503, code: 'ONNX_SERVE_UNAVAILABLE', message: new RegExp(`^model '${name}' is unavailable: `) })
      t.equal(res.headers['retry-after'], '5')
    }
  })
})
