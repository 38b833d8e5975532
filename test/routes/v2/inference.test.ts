import { deflateSync, gzipSync } from 'node:zlib'
import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { buildApp, devToken, fixtureRepository } from '../../helpers/build-app'

const irisInput = { name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }
const irisOutputs = [
  { name: 'label', datatype: 'INT64', shape: [1], data: [0] },
  { name: 'probabilities', datatype: 'FP32', shape: [1, 3], data: [0.9972718358039856, 0.0027281332295387983, 1.0977165357251017e-12] }
]

/** Every non-200 on /v2 is exactly {"error": message}. */
function assertV2Error (t: tap.Test, res: LightMyRequestResponse, statusCode: number, message: string | RegExp): void {
  t.equal(res.statusCode, statusCode, `status ${statusCode}`)
  t.match(res.headers['content-type'], /^application\/json/)
  const body = res.json() as Record<string, unknown>
  t.same(Object.keys(body), ['error'], 'only "error"')
  if (typeof message === 'string') t.equal(body.error, message)
  else t.match(body.error, message)
}

t.test('metadata, health, readiness and config', async t => {
  const app = await buildApp(t)
  const server = await app.inject({ url: '/v2' })
  t.same(server.json(), { name: 'onnx-serve', version: '0.1.0', extensions: ['binary_tensor_data', 'model_repository', 'model_configuration', 'statistics'] })

  for (const url of ['/v2/health/live', '/v2/health/ready']) {
    const res = await app.inject({ url, headers: { authorization: '' } })
    t.equal(res.statusCode, 200, `${url} is public`)
  }
  t.same((await app.inject({ url: '/v2/health/live' })).json(), { live: true })
  t.same((await app.inject({ url: '/v2/health/ready' })).json(), { ready: true })

  const metadata = {
    name: 'iris',
    versions: ['1'],
    platform: 'onnxruntime_onnx',
    inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 4] }],
    outputs: [{ name: 'label', datatype: 'INT64', shape: [-1] }, { name: 'probabilities', datatype: 'FP32', shape: [-1, 3] }]
  }
  t.same((await app.inject({ url: '/v2/models/iris' })).json(), metadata)
  t.same((await app.inject({ url: '/v2/models/iris/versions/1' })).json(), metadata)
  t.same((await app.inject({ url: '/v2/models/iris/ready' })).json(), { name: 'iris', ready: true })
  t.same((await app.inject({ url: '/v2/models/iris/config' })).json(), {
    name: 'iris',
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    max_batch_size: 64,
    input: [{ name: 'features', data_type: 'TYPE_FP32', dims: [4] }],
    output: [{ name: 'label', data_type: 'TYPE_INT64', dims: [1], reshape: { shape: [] } }, { name: 'probabilities', data_type: 'TYPE_FP32', dims: [3] }],
    version_policy: { latest: { num_versions: 1 } },
    dynamic_batching: { max_queue_delay_microseconds: 2000, preferred_batch_size: [] }
  })

  assertV2Error(t, await app.inject({ url: '/v2/models/nope' }), 404, "model 'nope' not found; available models: iris, iris-petal-width")
  assertV2Error(t, await app.inject({ url: '/v2/models/iris/versions/7/ready' }), 404, "model 'iris' has no served version 7; served versions: 1")
  assertV2Error(t, await app.inject({ url: '/v2/models/..%2Fetc' }), 400, /^params\.name: expected a model name/)
  assertV2Error(t, await app.inject({ url: '/v2/nothing' }), 404, 'Route GET:/v2/nothing not found')
})

t.test('infer: JSON, flat or nested, requested outputs, id echoed', async t => {
  const app = await buildApp(t)
  const infer = (payload: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    app.inject({ method: 'POST', url: '/v2/models/iris/infer', payload: JSON.stringify(payload), headers })

  const flat = await infer({ id: 'req-1', inputs: [irisInput] })
  t.equal(flat.statusCode, 200)
  t.same(flat.json(), { model_name: 'iris', model_version: '1', id: 'req-1', outputs: irisOutputs })

  const nested = await infer({ inputs: [{ ...irisInput, data: [[5.1, 3.5, 1.4, 0.2]] }], outputs: [{ name: 'label' }] })
  t.same(nested.json(), { model_name: 'iris', model_version: '1', outputs: [irisOutputs[0]] }, 'only the requested output')

  const versioned = await app.inject({ method: 'POST', url: '/v2/models/iris/versions/1/infer', payload: { inputs: [irisInput] } })
  t.same(versioned.json().outputs, irisOutputs)

  assertV2Error(t, await infer({ inputs: [{ ...irisInput, datatype: 'FP64' }] }), 400, "inputs[0].datatype: expected FP32 for input 'features', received FP64")
  assertV2Error(t, await infer({ inputs: [{ ...irisInput, shape: [1, 3] }] }), 400, /^inputs\[0\]\.shape/)
  assertV2Error(t, await infer({ inputs: [irisInput], outputs: [{ name: 'logits' }] }), 400, "outputs: the model has no output 'logits'; its outputs are label, probabilities")
})

t.test('infer: what tritonclient sends — no content type, gzip and deflate bodies', async t => {
  const app = await buildApp(t)
  const json = JSON.stringify({ inputs: [irisInput] })
  const cases: Array<[string, Buffer | string, Record<string, string>]> = [
    ['no content type', json, {}],
    ['gzip', gzipSync(json), { 'content-encoding': 'gzip' }],
    ['deflate', deflateSync(json), { 'content-encoding': 'deflate' }]
  ]
  for (const [name, payload, headers] of cases) {
    const res = await app.inject({ method: 'POST', url: '/v2/models/iris/infer', payload, headers })
    t.equal(res.statusCode, 200, name)
    t.same(res.json().outputs, irisOutputs, name)
  }
  assertV2Error(t, await app.inject({ method: 'POST', url: '/v2/models/iris/infer', payload: 'not gzip', headers: { 'content-encoding': 'gzip' } }), 400, /^body: not valid gzip data/)
  assertV2Error(t, await app.inject({ method: 'POST', url: '/v2/models/iris/infer', payload: json, headers: { 'content-encoding': 'br' } }), 415, "Content-Encoding 'br' is not supported; use gzip, deflate or none")
})

t.test('binary tensor data extension: a round trip with a multi-input model', async t => {
  const app = await buildApp(t, { MODEL_REPOSITORY: fixtureRepository(t) })
  const a = Float64Array.of(1.5, 2, -3, 4.25)
  const b = BigInt64Array.of(2n ** 60n, -7n)
  const c = Int32Array.of(7, -2147483648)
  const flag = Uint8Array.of(1, 0)
  const header = Buffer.from(JSON.stringify({
    inputs: [
      { name: 'a', shape: [2, 2], datatype: 'FP64', parameters: { binary_data_size: a.byteLength } },
      { name: 'b', shape: [2, 1], datatype: 'INT64', parameters: { binary_data_size: b.byteLength } },
      { name: 'c', shape: [2], datatype: 'INT32', parameters: { binary_data_size: c.byteLength } },
      { name: 'flag', shape: [2, 1], datatype: 'BOOL', parameters: { binary_data_size: flag.byteLength } }
    ],
    parameters: { binary_data_output: true }
  }))
  const body = Buffer.concat([header, ...[a, b, c, flag].map(array => Buffer.from(array.buffer))])
  const res = await app.inject({
    method: 'POST',
    url: '/v2/models/mixed/infer',
    payload: body,
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) }
  })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'application/octet-stream')
  const headerLength = Number(res.headers['inference-header-content-length'])
  const raw = res.rawPayload
  const json = JSON.parse(raw.subarray(0, headerLength).toString()) as { outputs: Array<{ name: string, datatype: string, shape: number[], parameters: { binary_data_size: number } }> }
  t.same(json.outputs.map(output => [output.name, output.datatype, output.shape]), [
    ['total', 'FP64', [2, 1]], ['b_plus_one', 'INT64', [2, 1]], ['c_neg', 'INT32', [2]], ['not_flag', 'BOOL', [2, 1]]
  ])
  let offset = headerLength
  const parts: Record<string, Buffer> = {}
  for (const output of json.outputs) {
    parts[output.name] = Buffer.from(raw.subarray(offset, offset + output.parameters.binary_data_size))
    offset += output.parameters.binary_data_size
  }
  t.equal(offset, raw.length, 'the binary part is exactly the declared sizes')
  const view = (buffer: Buffer) => buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength)
  t.same(Array.from(new Float64Array(view(parts.total))), [1.5 + 2 + Number(2n ** 60n), -3 + 4.25 - 7])
  t.same(Array.from(new BigInt64Array(view(parts.b_plus_one))), [2n ** 60n + 1n, -6n], 'int64 beyond 2^53 exact in binary')
  t.same(Array.from(new Int32Array(view(parts.c_neg))), [-7, -2147483648], 'Neg wraps the int32 minimum, as ONNX does')
  t.same(Array.from(new Uint8Array(view(parts.not_flag))), [0, 1])
})

t.test('every refusal on /v2 is {"error"}: 401, 403, 413, 429, 503', async t => {
  const app = await buildApp(t, { MODEL_REPOSITORY: fixtureRepository(t), BODY_LIMIT: '2048', RATE_LIMIT_MAX: '40' }, { token: false })
  const auth = { authorization: `Bearer ${devToken({ sub: 'v2-errors', scope: 'predict' })}` }
  assertV2Error(t, await app.inject({ url: '/v2/models/sum' }), 401, 'missing bearer token: send Authorization: Bearer <token>')
  assertV2Error(t, await app.inject({ url: '/v2/models/sum', headers: { authorization: `Bearer ${devToken({ sub: 'x', scope: 'admin' })}` } }), 403, "this route needs the 'predict' scope; the token has admin")
  assertV2Error(t, await app.inject({ method: 'POST', url: '/v2/models/sum/infer', headers: auth, payload: 'x'.repeat(4096) }), 413, /too large/i)
  assertV2Error(t, await app.inject({ url: '/v2/models/broken', headers: auth }), 503, /^model 'broken' is unavailable: version 1: /)
  let last: LightMyRequestResponse | undefined
  for (let i = 0; i < 40; i++) last = await app.inject({ url: '/v2', headers: auth })
  t.equal(last?.statusCode, 429)
  if (last !== undefined) assertV2Error(t, last, 429, /^rate limit of 40 requests per 60 s exceeded/)
  t.ok(last?.headers['retry-after'], 'with retry-after')
})

t.test('/v2/health/ready follows the same rule as /health/ready: draining, never a configured Redis that is down', async t => {
  const app = await buildApp(t, { REDIS_URL: 'redis://127.0.0.1:1' })
  const ready = await app.inject({ url: '/v2/health/ready' })
  t.equal(ready.statusCode, 200, 'Redis down is no reason to leave rotation')
  t.strictSame(ready.json(), { ready: true })
  app.lifecycle.draining = true
  const draining = await app.inject({ url: '/v2/health/ready' })
  assertV2Error(t, draining, 503, 'shutting down')
  t.equal((await app.inject({ url: '/health/ready' })).json().reason, draining.json().error, 'one reason for both')
  app.lifecycle.draining = false
})
