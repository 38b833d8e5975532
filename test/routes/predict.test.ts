import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildApp, fixtureRepository } from '../helpers/build-app'
import { assertError } from '../helpers/responses'

const setosa = [5.1, 3.5, 1.4, 0.2]
const virginica = [6.7, 3.0, 5.2, 2.3]
const versicolor = [5.9, 3.0, 4.2, 1.5]

function post (app: FastifyInstance, payload: unknown): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url: '/predict', payload: payload as Record<string, unknown> })
}

const badInput = (message: string | RegExp) => ({ statusCode: 400, code: 'ONNX_SERVE_BAD_INPUT', message })
const invalid = (message: string) => ({ statusCode: 400, code: 'FST_ERR_VALIDATION', message })

t.test('POST /predict returns class names for the default model', async t => {
  const app = await buildApp(t)
  const res = await post(app, { input_data: [setosa, virginica] })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { prediction: ['setosa', 'virginica'] })
})

t.test('the bundled default model (iris)', async t => {
  let app: FastifyInstance
  t.before(async () => { app = await buildApp(t) })

  t.test('one row gives one prediction', async t => {
    const res = await post(app, { input_data: setosa })
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /^application\/json/)
    t.strictSame(res.json(), { prediction: ['setosa'] })
  })

  t.test('rows give one prediction per row, in order, as class names from the labels', async t => {
    const res = await post(app, { input_data: [virginica, setosa, versicolor, setosa] })
    t.equal(res.statusCode, 200)
    t.strictSame(res.json(), { prediction: ['virginica', 'setosa', 'versicolor', 'setosa'] })
  })

  t.test('a batch of one row is still rows', async t => {
    const res = await post(app, { input_data: [versicolor] })
    t.equal(res.statusCode, 200)
    t.strictSame(res.json(), { prediction: ['versicolor'] })
  })

  t.test('integers are valid float32 values', async t => {
    const res = await post(app, { input_data: [5, 3, 1, 0] })
    t.equal(res.statusCode, 200)
    t.strictSame(res.json(), { prediction: ['setosa'] })
  })

  t.test('as many rows as max_batch_size (64) are accepted', async t => {
    const res = await post(app, { input_data: Array.from({ length: 64 }, () => setosa) })
    t.equal(res.statusCode, 200)
    t.equal(res.json<{ prediction: unknown[] }>().prediction.length, 64)
  })

  t.test('missing input_data is a 400 naming body.input_data', async t => {
    assertError(t, await post(app, {}), invalid('body.input_data: is required'))
  })

  t.test('an unknown key next to input_data is a 400 naming it', async t => {
    assertError(t, await post(app, { input_data: setosa, inputs: setosa }), invalid('body.inputs: is not allowed here'))
  })

  t.test('a body that is not an object is a 400', async t => {
    assertError(t, await post(app, [setosa]), invalid('body: must be object, received an array of 1'))
  })

  t.test('a row of the wrong length names the expected and received length', async t => {
    assertError(t, await post(app, { input_data: [5.1, 3.5, 1.4] }),
      badInput('input_data: expected an array of 4 (row shape [4] of float32), received an array of 3'))
    assertError(t, await post(app, { input_data: [[...setosa, 1]] }),
      badInput('input_data[0]: expected an array of 4 (row shape [4] of float32), received an array of 5'))
    assertError(t, await post(app, { input_data: [] }),
      badInput('input_data: expected an array of 4 (row shape [4] of float32), received an array of 0'))
  })

  t.test('non-numbers where numbers belong name the element, the type and what was received', async t => {
    const cases: Array<[unknown, string]> = [
      ['3.5', 'a string'],
      [null, 'null'],
      [true, 'a boolean'],
      [{ value: 3.5 }, 'an object']
    ]
    for (const [value, received] of cases) {
      assertError(t, await post(app, { input_data: [5.1, value, 1.4, 0.2] }),
        badInput(`input_data[1]: expected a number (float32), received ${received}`))
      assertError(t, await post(app, { input_data: [setosa, [5.1, 3.5, 1.4, value]] }),
        badInput(`input_data[1][3]: expected a number (float32), received ${received}`))
    }
  })

  t.test('a number beyond the float32 range is refused', async t => {
    assertError(t, await post(app, { input_data: [1e39, 3.5, 1.4, 0.2] }),
      badInput('input_data[0]: expected a number within float32 range [-3.4028234663852886e+38, 3.4028234663852886e+38], received the number 1e+39'))
  })

  t.test('ragged rows name the row that differs', async t => {
    assertError(t, await post(app, { input_data: [setosa, [6.7, 3.0, 5.2]] }),
      badInput('input_data[1]: expected an array of 4 (row shape [4] of float32), received an array of 3'))
    assertError(t, await post(app, { input_data: [setosa, 5.1] }),
      badInput('input_data[1]: expected an array of 4 (row shape [4] of float32), received the number 5.1'))
  })

  t.test('too deep or too shallow nesting names the accepted shapes', async t => {
    const expected = (received: string) => badInput(
      `input_data: expected a row of shape [4] or rows of shape [-1, 4] of float32 for input 'features', received ${received}`)
    assertError(t, await post(app, { input_data: [[setosa]] }), expected('an array of 1'))
    assertError(t, await post(app, { input_data: [[setosa], [virginica]] }), expected('an array of 2'))
    assertError(t, await post(app, { input_data: 5.1 }), expected('the number 5.1'))
    assertError(t, await post(app, { input_data: 'setosa' }), expected('a string'))
    assertError(t, await post(app, { input_data: null }), expected('null'))
    assertError(t, await post(app, { input_data: [[5.1, 3.5, 1.4, [0.2]]] }),
      badInput('input_data[0][3]: expected a number (float32), received an array of 1'))
  })

  t.test('an object row names the unknown input', async t => {
    assertError(t, await post(app, { input_data: { petals: setosa } }),
      badInput('input_data: unknown input \'petals\'; the model\'s inputs are features'))
  })

  t.test('an object row keyed by the input name is accepted', async t => {
    const res = await post(app, { input_data: { features: virginica } })
    t.equal(res.statusCode, 200)
    t.strictSame(res.json(), { prediction: ['virginica'] })
  })

  t.test('more rows than the model\'s max_batch_size (64) is a 400 naming both', async t => {
    assertError(t, await post(app, { input_data: Array.from({ length: 65 }, () => setosa) }),
      badInput('input_data: at most 64 rows per request for model \'iris\', received 65'))
  })

  t.test('malformed JSON is a JSON 400', async t => {
    const res = await app.inject({ method: 'POST', url: '/predict', headers: { 'content-type': 'application/json' }, payload: '{"input_data": [5.1,' })
    assertError(t, res, { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY', message: 'Body is not valid JSON but content-type is set to \'application/json\'' })
  })

  t.test('an empty JSON body is a JSON 400', async t => {
    const res = await app.inject({ method: 'POST', url: '/predict', headers: { 'content-type': 'application/json' }, payload: '' })
    assertError(t, res, { statusCode: 400, code: 'FST_ERR_CTP_EMPTY_JSON_BODY', message: 'Body cannot be empty when content-type is set to \'application/json\'' })
  })

  t.test('a content type other than JSON is a JSON 415', async t => {
    for (const type of ['application/xml', 'application/x-www-form-urlencoded', 'application/octet-stream', 'multipart/form-data; boundary=x']) {
      const res = await app.inject({ method: 'POST', url: '/predict', headers: { 'content-type': type }, payload: '<input_data/>' })
      assertError(t, res, { statusCode: 415, code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', message: 'Unsupported Media Type: send application/json' })
    }
  })

  t.test('a text/plain body is a 415 like any other non-JSON type', async t => {
    for (const type of ['text/plain', 'text/plain; charset=utf-8']) {
      const res = await app.inject({ method: 'POST', url: '/predict', headers: { 'content-type': type }, payload: JSON.stringify({ input_data: setosa }) })
      assertError(t, res, { statusCode: 415, code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', message: 'Unsupported Media Type: send application/json' })
    }
  })

  t.test('JSON with a charset parameter is accepted', async t => {
    const res = await app.inject({ method: 'POST', url: '/predict', headers: { 'content-type': 'application/json; charset=utf-8' }, payload: JSON.stringify({ input_data: setosa }) })
    t.equal(res.statusCode, 200)
    t.strictSame(res.json(), { prediction: ['setosa'] })
  })

  t.test('GET /predict is an unknown route', async t => {
    assertError(t, await app.inject({ method: 'GET', url: '/predict' }), { statusCode: 404, code: 'NOT_FOUND', message: 'Route GET:/predict not found' })
  })
})

t.test('limits: BODY_LIMIT, MAX_ROWS, MAX_TENSOR_ELEMENTS, with DEFAULT_MODEL=iris-petal-width', async t => {
  let app: FastifyInstance
  t.before(async () => {
    app = await buildApp(t, { DEFAULT_MODEL: 'iris-petal-width', BODY_LIMIT: '1024', MAX_ROWS: '2', MAX_TENSOR_ELEMENTS: '10' })
  })

  t.test('a regression model predicts plain numbers, one [value] per row', async t => {
    const res = await post(app, { input_data: [[5.1, 3.5, 1.4], [6.7, 3.0, 5.2]] })
    t.equal(res.statusCode, 200)
    const { prediction } = res.json<{ prediction: number[][] }>()
    t.equal(prediction.length, 2)
    t.equal(prediction[0].length, 1)
    t.equal(typeof prediction[0][0], 'number')
    t.ok(Math.abs(prediction[0][0] - 0.2126) < 1e-3, `setosa petal width ≈ 0.21 cm, got ${prediction[0][0]}`)
    t.ok(Math.abs(prediction[1][0] - 1.7645) < 1e-3, `virginica petal width ≈ 1.76 cm, got ${prediction[1][0]}`)
    const single = await post(app, { input_data: [5.1, 3.5, 1.4] })
    t.strictSame(single.json(), { prediction: [prediction[0]] }, 'one row gives the same value as in a batch')
  })

  t.test('more rows than MAX_ROWS is a 400, even under the model\'s max_batch_size', async t => {
    assertError(t, await post(app, { input_data: [[5.1, 3.5, 1.4], [6.7, 3.0, 5.2], [5.9, 3.0, 4.2]] }),
      badInput('input_data: at most 2 rows per request for model \'iris-petal-width\', received 3'))
  })

  t.test('more elements than MAX_TENSOR_ELEMENTS is a 400 naming the limit', async t => {
    assertError(t, await post(app, { input_data: [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]] }),
      badInput('input_data[3][1]: expected at most 10 tensor elements in all inputs (MAX_TENSOR_ELEMENTS), received more'))
  })

  t.test('a body over BODY_LIMIT is a JSON 413', async t => {
    const rows = Array.from({ length: 100 }, () => [5.123456, 3.523456, 1.423456])
    t.ok(JSON.stringify({ input_data: rows }).length > 1024)
    assertError(t, await post(app, { input_data: rows }), { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE', message: 'Request body is too large' })
  })
})

t.test('a model with several inputs (fixture, DEFAULT_MODEL=mixed)', async t => {
  const repository = fixtureRepository(t)
  let app: FastifyInstance
  t.before(async () => { app = await buildApp(t, { MODEL_REPOSITORY: repository, DEFAULT_MODEL: 'mixed' }) })
  const row = { a: [0.5, 0.25], b: [10], c: 7, flag: [true] }
  const other = { a: [1, 2], b: [-3], c: -8, flag: [false] }

  t.test('an object row gives one prediction of the first output (total = sum(a) + b)', async t => {
    const res = await post(app, { input_data: row })
    t.equal(res.statusCode, 200)
    t.strictSame(res.json(), { prediction: [[10.75]] })
  })

  t.test('an array of object rows gives one prediction per row', async t => {
    const res = await post(app, { input_data: [row, other] })
    t.equal(res.statusCode, 200)
    t.strictSame(res.json(), { prediction: [[10.75], [0]] })
  })

  t.test('int64 accepts exact decimal strings', async t => {
    const res = await post(app, { input_data: { ...row, b: ['10'] } })
    t.equal(res.statusCode, 200)
    t.strictSame(res.json(), { prediction: [[10.75]] })
  })

  t.test('a missing input is named with its row shape and type', async t => {
    assertError(t, await post(app, { input_data: { a: [1, 2], b: [1], c: 1 } }),
      badInput('input_data.flag: missing; expected row shape [1] of bool'))
  })

  t.test('an unknown input is named with the model\'s inputs', async t => {
    assertError(t, await post(app, { input_data: { ...row, d: [1] } }),
      badInput('input_data: unknown input \'d\'; the model\'s inputs are a, b, c, flag'))
  })

  t.test('a row that is not an object names the input names', async t => {
    assertError(t, await post(app, { input_data: [row, [1, 2]] }),
      badInput('input_data[1]: expected an object keyed by input name (a, b, c, flag), received an array of 2'))
    assertError(t, await post(app, { input_data: [0.5, 0.25] }),
      badInput('input_data[0]: expected an object keyed by input name (a, b, c, flag), received the number 0.5'))
  })

  t.test('element types are checked per input', async t => {
    assertError(t, await post(app, { input_data: { ...row, flag: [1] } }),
      badInput('input_data.flag[0]: expected a boolean (true or false), received the number 1'))
    assertError(t, await post(app, { input_data: { ...row, b: [1.5] } }),
      badInput('input_data.b[0]: expected an integer (int64), received the number 1.5'))
    assertError(t, await post(app, { input_data: { ...row, c: 2147483648 } }),
      badInput('input_data.c: expected a number within int32 range [-2147483648, 2147483647], received the number 2147483648'))
    assertError(t, await post(app, { input_data: [row, { ...other, a: [1, '2'] }] }),
      badInput('input_data[1].a[1]: expected a number (float64), received a string'))
  })

  t.test('more rows than the model\'s max_batch_size (8)', async t => {
    assertError(t, await post(app, { input_data: Array.from({ length: 9 }, () => row) }),
      badInput('input_data: at most 8 rows per request for model \'mixed\', received 9'))
  })
})

t.test('DEFAULT_MODEL naming a model that cannot be served is a 503 with the reason', async t => {
  const app = await buildApp(t, { MODEL_REPOSITORY: fixtureRepository(t), DEFAULT_MODEL: 'broken' })
  const res = await post(app, { input_data: [1, 2] })
  assertError(t, res, {
    statusCode: 503,
    code: 'ONNX_SERVE_UNAVAILABLE',
    message: /^model 'broken' is unavailable: version 1: .*Protobuf parsing failed.*The file is not a valid ONNX model/
  })
  t.equal(res.headers['retry-after'], '5')
})
