// The same inputs through every API (/predict, TF Serving / KServe V1 rows
// and columns, v2 JSON and binary, gRPC typed and raw contents) get the
// same refusal, each in its own error shape: one inference service, one
// tensor core underneath.

import t from 'tap'
import { status } from '@grpc/grpc-js'
import { cpSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { ElemType, encodeModel, node, tensorInput, tensorOutput } from '../../scripts/onnx-graph'
import { buildApp, bundledRepository } from '../helpers/build-app'
import { grpcClientOf, type InferenceClient } from '../helpers/grpc-client'

interface Api {
  name: string
  /** The field a refusal names for the rows. */
  field: string
  send: (app: FastifyInstance, model: string, datatype: string, rows: unknown[][]) => Promise<LightMyRequestResponse>
}

const flat = (rows: unknown[][]): unknown[] => rows.flat()
const v2Json = (rows: unknown[][], datatype: string, name: string) =>
  ({ inputs: [{ name, datatype, shape: [rows.length, rows[0]?.length ?? 0], data: flat(rows) }] })

/** The protocol's binary form of the rows: FP32 little-endian, or BYTES as 4-byte lengths and UTF-8. */
function binaryTensor (rows: unknown[][], datatype: string): Buffer {
  const values = flat(rows)
  return datatype === 'BYTES'
    ? Buffer.concat(values.map(value => {
      const text = Buffer.from(String(value))
      const length = Buffer.alloc(4)
      length.writeUInt32LE(text.length)
      return Buffer.concat([length, text])
    }))
    : Buffer.from(new Float32Array(values.map(Number)).buffer)
}

/** Triton's binary tensor extension: a JSON header, then the tensor's bytes. */
function v2Binary (rows: unknown[][], datatype: string, name: string): { body: Buffer, headerLength: number } {
  const bytes = binaryTensor(rows, datatype)
  const header = Buffer.from(JSON.stringify({ inputs: [{ name, datatype, shape: [rows.length, rows[0]?.length ?? 0], parameters: { binary_data_size: bytes.length } }] }))
  return { body: Buffer.concat([header, bytes]), headerLength: header.length }
}

const inputName: Record<string, string> = { iris: 'features', text: 'text' }

const apis: Api[] = [
  { name: '/predict', field: 'input_data', send: async (app, _model, _datatype, rows) => app.inject({ method: 'POST', url: '/predict', payload: { input_data: rows } }) },
  { name: 'instances', field: 'instances', send: async (app, model, _datatype, rows) => app.inject({ method: 'POST', url: `/v1/models/${model}:predict`, payload: { instances: rows } }) },
  { name: 'columns', field: 'inputs', send: async (app, model, _datatype, rows) => app.inject({ method: 'POST', url: `/v1/models/${model}/versions/1:predict`, payload: { inputs: rows } }) },
  { name: 'v2 JSON', field: 'inputs', send: async (app, model, datatype, rows) => app.inject({ method: 'POST', url: `/v2/models/${model}/infer`, payload: v2Json(rows, datatype, inputName[model]) }) },
  {
    name: 'v2 binary',
    field: 'inputs',
    send: async (app, model, datatype, rows) => {
      const { body, headerLength } = v2Binary(rows, datatype, inputName[model])
      return app.inject({ method: 'POST', url: `/v2/models/${model}/infer`, payload: body, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) } })
    }
  }
]

/** The refusal's message, from whichever error shape the API uses. */
function messageOf (res: LightMyRequestResponse): string {
  const body = res.json<{ message?: string, error?: string }>()
  return res.headers['content-type']?.toString().startsWith('application/json') === true && 'message' in body ? String(body.message) : String(body.error)
}

function repository (dir: string): string {
  cpSync(join(bundledRepository, 'iris'), join(dir, 'iris'), { recursive: true })
  // Text in, the same text out: [batch, 1] strings.
  mkdirSync(join(dir, 'text', '1'), { recursive: true })
  writeFileSync(join(dir, 'text', '1', 'model.onnx'), encodeModel({
    graphName: 'text',
    inputs: [tensorInput('text', ElemType.STRING, ['batch', 1])],
    outputs: [tensorOutput('echo', ElemType.STRING, ['batch', 1])],
    nodes: [node('Identity', ['text'], ['echo'])]
  }))
  writeFileSync(join(dir, 'text', 'config.json'), JSON.stringify({ max_batch_size: 8 }))
  // Any [n, m] of floats, back as it came.
  mkdirSync(join(dir, 'free', '1'), { recursive: true })
  writeFileSync(join(dir, 'free', '1', 'model.onnx'), encodeModel({
    graphName: 'free',
    inputs: [tensorInput('x', ElemType.FLOAT, ['n', 'm'])],
    outputs: [tensorOutput('y', ElemType.FLOAT, ['n', 'm'])],
    nodes: [node('Identity', ['x'], ['y'])]
  }))
  return dir
}

const setosa = [5.1, 3.5, 1.4, 0.2]

t.test('one refusal for the same input, whichever API carries it', async t => {
  const dir = repository(t.testdir())
  const iris = await buildApp(t, { MODEL_REPOSITORY: dir, DEFAULT_MODEL: 'iris', MAX_TENSOR_ELEMENTS: '200' })
  const text = await buildApp(t, { MODEL_REPOSITORY: dir, DEFAULT_MODEL: 'text' })

  const cases: Array<{ what: string, app: FastifyInstance, model: string, datatype: string, rows: unknown[][], message: (api: Api) => RegExp, skip?: string[] }> = [
    {
      what: 'more rows than max_batch_size',
      app: text,
      model: 'text',
      datatype: 'BYTES',
      rows: Array.from({ length: 9 }, (_, i) => [`row ${i}`]),
      message: api => new RegExp(`^${api.field}: at most 8 rows per request for model 'text', received 9$`)
    },
    {
      what: 'more elements than MAX_TENSOR_ELEMENTS',
      app: iris,
      model: 'iris',
      datatype: 'FP32',
      rows: Array.from({ length: 51 }, () => setosa),
      message: () => /expected at most 200 tensor elements in all inputs \(MAX_TENSOR_ELEMENTS\), received/
    },
    {
      what: 'a row of the wrong width',
      app: iris,
      model: 'iris',
      datatype: 'FP32',
      rows: [[5.1, 3.5, 1.4]],
      message: () => /expected .*\b4\b.*, received .*\b3\b/
    },
    {
      what: 'an element of the wrong type',
      app: iris,
      model: 'iris',
      datatype: 'FP32',
      rows: [[5.1, 'wide', 1.4, 0.2]],
      message: () => /\[1\]: expected a number \(float32\), received a string$/,
      // Binary data has no JSON elements to mistype.
      skip: ['v2 binary']
    },
    {
      what: 'text with a NUL character',
      app: text,
      model: 'text',
      datatype: 'BYTES',
      rows: [['a\u0000b']],
      message: () => /expected a string without the NUL character \(\\u0000\), which onnxruntime cannot carry/
    }
  ]
  for (const testCase of cases) {
    for (const api of apis) {
      if (testCase.skip?.includes(api.name)) continue
      const what = `${testCase.what} via ${api.name}`
      const res = await api.send(testCase.app, testCase.model, testCase.datatype, testCase.rows)
      t.equal(res.statusCode, 400, `${what}: 400`)
      t.match(messageOf(res), testCase.message(api), `${what}: ${messageOf(res)}`)
      if (api.name.startsWith('v2')) t.strictSame(Object.keys(res.json()), ['error'], `${what}: the protocol's {"error"}`)
      else t.strictSame(Object.keys(res.json()).sort(), ['code', 'error', 'message', 'statusCode'], `${what}: Fastify's error shape`)
    }
  }

  // gRPC: typed contents and raw contents, refused in the same words with INVALID_ARGUMENT.
  const grpc = new Map<FastifyInstance, InferenceClient>([[iris, await grpcClientOf(t, iris)], [text, await grpcClientOf(t, text)]])
  const grpcApis = [
    {
      name: 'gRPC contents',
      request: (model: string, datatype: string, rows: unknown[][]) => ({
        model_name: model,
        inputs: [{ name: inputName[model], datatype, shape: [String(rows.length), String(rows[0]?.length ?? 0)], contents: datatype === 'BYTES' ? { bytes_contents: flat(rows).map(value => Buffer.from(String(value))) } : { fp32_contents: flat(rows) } }]
      })
    },
    {
      name: 'gRPC raw',
      request: (model: string, datatype: string, rows: unknown[][]) => ({
        model_name: model,
        inputs: [{ name: inputName[model], datatype, shape: [String(rows.length), String(rows[0]?.length ?? 0)] }],
        raw_input_contents: [binaryTensor(rows, datatype)]
      })
    }
  ]
  for (const testCase of cases) {
    // A string in a float field cannot even be encoded; raw data has no elements to mistype.
    if (testCase.what === 'an element of the wrong type') continue
    for (const api of grpcApis) {
      const what = `${testCase.what} via ${api.name}`
      const { error } = await (grpc.get(testCase.app) as InferenceClient).call('ModelInfer', api.request(testCase.model, testCase.datatype, testCase.rows))
      t.equal(error?.code, status.INVALID_ARGUMENT, `${what}: INVALID_ARGUMENT`)
      t.match(error?.details, testCase.message({ name: api.name, field: 'inputs', send: async () => { throw new Error('unused') } }), `${what}: ${error?.details ?? ''}`)
    }
  }

  // And the same good input gets the same answer everywhere.
  t.strictSame((await apis[0].send(iris, 'iris', 'FP32', [setosa])).json(), { prediction: ['setosa'] })
  t.strictSame((await apis[1].send(iris, 'iris', 'FP32', [setosa])).json().predictions[0].label, 0)
  t.strictSame((await apis[2].send(iris, 'iris', 'FP32', [setosa])).json().outputs.label, [0])
  for (const api of apis.slice(3)) {
    const res = await api.send(iris, 'iris', 'FP32', [setosa])
    t.equal(res.statusCode, 200, `${api.name}: 200`)
  }
  t.strictSame((await apis[3].send(text, 'text', 'BYTES', [['a b'], ['ü']])).json().outputs[0].data, ['a b', 'ü'], 'text comes back whole')
})

t.test('v2 shapes that hold no element but no tensor can have', async t => {
  const app = await buildApp(t, { MODEL_REPOSITORY: repository(t.testdir()) })
  for (const shape of [[0, 4294967296], [9007199254740991, 0]]) {
    const res = await app.inject({ method: 'POST', url: '/v2/models/free/infer', payload: { inputs: [{ name: 'x', datatype: 'FP32', shape, data: [] }] } })
    t.equal(res.statusCode, 400, `${JSON.stringify(shape)}: 400, not a 500 from the runtime`)
    t.match(res.json().error, /for any dimension, received \d+ in shape/)
  }
  const rows = 60_000
  const big = v2Binary(Array.from({ length: rows }, () => setosa), 'FP32', 'features')
  const res = await app.inject({ method: 'POST', url: '/v2/models/iris/infer', payload: big.body, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(big.headerLength) } })
  t.equal(res.statusCode, 400, 'a 60,000-row binary request')
  t.equal(res.json().error, `inputs: at most 64 rows per request for model 'iris', received ${rows}`)
})
