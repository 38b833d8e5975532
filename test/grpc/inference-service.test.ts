// inference.GRPCInferenceService over a real port, called as a user's
// @grpc/grpc-js client would: every RPC, tensors both ways, the same
// auth, scopes and refusals as HTTP.

import t from 'tap'
import { status } from '@grpc/grpc-js'
import { buildApp, devToken } from '../helpers/build-app'
import { grpcClientOf, metadataFor } from '../helpers/grpc-client'

const setosa = [5.1, 3.5, 1.4, 0.2]
const virginica = [6.9, 3.1, 5.4, 2.1]
const features = (rows: number[][]) => ({ name: 'features', datatype: 'FP32', shape: [String(rows.length), '4'] })
const floats = (rows: number[][]): Buffer => Buffer.from(new Float32Array(rows.flat()).buffer)

interface InferResponse {
  model_name: string
  model_version: string
  id?: string
  outputs: Array<{ name: string, datatype: string, shape: string[] }>
  raw_output_contents: Buffer[]
}

/** The labels (INT64) and probabilities (FP32) of an iris answer. */
function irisAnswer (response: InferResponse): { labels: bigint[], probabilities: number[] } {
  const copy = (buffer: Buffer): ArrayBuffer => buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.length) as ArrayBuffer
  return {
    labels: [...new BigInt64Array(copy(response.raw_output_contents[0]))],
    probabilities: [...new Float32Array(copy(response.raw_output_contents[1]))]
  }
}

t.test('health, metadata and configuration', async t => {
  const app = await buildApp(t)
  const grpc = await grpcClientOf(t, app)
  t.strictSame((await grpc.call('ServerLive', {}, { token: null })).response, { live: true }, 'ServerLive is public')
  t.strictSame((await grpc.call('ServerReady', {}, { token: null })).response, { ready: true }, 'ServerReady is public')
  t.strictSame((await grpc.call('ServerMetadata')).response, { name: 'onnx-serve', version: '0.1.0', extensions: ['binary_tensor_data', 'model_repository', 'model_configuration', 'statistics'] })
  t.strictSame((await grpc.call('ModelReady', { name: 'iris' })).response, { ready: true })
  t.strictSame((await grpc.call('ModelReady', { name: 'iris', version: '7' })).response, { ready: false }, 'a version that does not serve is not ready, as in Triton')
  t.strictSame((await grpc.call('ModelReady', { name: 'nope' })).response, { ready: false }, 'nor is an unknown model')
  t.strictSame((await grpc.call('ModelMetadata', { name: 'iris' })).response, {
    name: 'iris',
    versions: ['1'],
    platform: 'onnxruntime_onnx',
    inputs: [{ name: 'features', datatype: 'FP32', shape: ['-1', '4'] }],
    outputs: [{ name: 'label', datatype: 'INT64', shape: ['-1'] }, { name: 'probabilities', datatype: 'FP32', shape: ['-1', '3'] }]
  })
  const config = (await grpc.call<{ config: Record<string, unknown> }>('ModelConfig', { name: 'iris', version: '1' })).response?.config
  t.match(config, {
    name: 'iris',
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    max_batch_size: 64,
    input: [{ name: 'features', data_type: 'TYPE_FP32', dims: ['4'] }],
    output: [{ name: 'label', data_type: 'TYPE_INT64', dims: ['1'], reshape: {} }, { name: 'probabilities', data_type: 'TYPE_FP32', dims: ['3'] }],
    version_policy: { latest: { num_versions: 1 } },
    dynamic_batching: { max_queue_delay_microseconds: '2000' }
  }, 'ModelConfig: Triton\'s message, batch dimension left out (one label per row: dims [1], reshape [])')
  t.notOk('reshape' in ((config?.output as Array<Record<string, unknown>>)[1]), 'no reshape where dims are the model\'s own')

  const unknown = await grpc.call('ModelMetadata', { name: 'nope' })
  t.equal(unknown.error?.code, status.NOT_FOUND)
  t.match(unknown.error?.details, /nope/)
  const badName = await grpc.call('ModelMetadata', { name: '../etc' })
  t.equal(badName.error?.code, status.INVALID_ARGUMENT)
  t.equal(badName.error?.details, 'name: expected a model name: up to 128 letters, digits, _ . or -, starting with a letter or digit, received a string')
  const badVersion = await grpc.call('ModelMetadata', { name: 'iris', version: 'one' })
  t.equal(badVersion.error?.details, 'version: expected a model version: a positive integer, received a string')
})

t.test('ModelInfer: typed contents and raw contents, the same answer', async t => {
  const app = await buildApp(t)
  const grpc = await grpcClientOf(t, app)
  const typed = await grpc.call<InferResponse>('ModelInfer', {
    model_name: 'iris',
    id: 'req-1',
    inputs: [{ ...features([setosa, virginica]), contents: { fp32_contents: [...setosa, ...virginica] } }]
  })
  t.equal(typed.error, undefined)
  const response = typed.response as InferResponse
  t.equal(response.model_name, 'iris')
  t.equal(response.model_version, '1')
  t.equal(response.id, 'req-1', 'the id is echoed')
  const traced = await grpc.call('ModelInfer', { model_name: 'iris', inputs: [features([setosa])], raw_input_contents: [floats([setosa])] }, { metadata: { 'x-request-id': 'trace-me-1' } })
  t.equal(traced.trailers?.get('x-request-id')[0], 'trace-me-1', 'the request id comes back in the trailers, the client\'s when it sent one')
  t.strictSame(response.outputs, [{ name: 'label', datatype: 'INT64', shape: ['2'] }, { name: 'probabilities', datatype: 'FP32', shape: ['2', '3'] }])
  t.strictSame(irisAnswer(response).labels, [0n, 2n], 'setosa, virginica')

  const raw = await grpc.call<InferResponse>('ModelInfer', { model_name: 'iris', model_version: '1', inputs: [features([setosa, virginica])], raw_input_contents: [floats([setosa, virginica])] })
  t.strictSame(irisAnswer(raw.response as InferResponse), irisAnswer(response), 'raw_input_contents answer as contents do')

  // A buffer at an odd offset inside a larger one is copied, never viewed misaligned.
  const padded = Buffer.concat([Buffer.alloc(1), floats([setosa])]).subarray(1)
  const odd = await grpc.call<InferResponse>('ModelInfer', { model_name: 'iris', inputs: [features([setosa])], raw_input_contents: [padded] })
  t.strictSame(irisAnswer(odd.response as InferResponse).labels, [0n])

  const only = await grpc.call<InferResponse>('ModelInfer', { model_name: 'iris', inputs: [features([setosa])], raw_input_contents: [floats([setosa])], outputs: [{ name: 'probabilities' }] })
  t.strictSame(only.response?.outputs.map(output => output.name), ['probabilities'], 'only the outputs requested')
  t.equal(only.response?.raw_output_contents.length, 1)

  const parameters = await grpc.call('ModelInfer', {
    model_name: 'iris',
    parameters: { priority: { double_param: 1.5 }, sequence_id: { uint64_param: '18446744073709551615' }, tag: { string_param: 'x' }, flag: { bool_param: true }, n: { int64_param: '-3' } },
    inputs: [{ ...features([setosa]), parameters: { note: { string_param: 'y' } } }],
    raw_input_contents: [floats([setosa])]
  })
  t.equal(parameters.error, undefined, 'the parameters Triton\'s client sends, double_param and uint64_param included')
})

t.test('refusals: gRPC status codes with HTTP\'s messages', async t => {
  const app = await buildApp(t, { RATE_LIMIT_MAX: '1000' })
  const grpc = await grpcClientOf(t, app)
  const infer = (request: Record<string, unknown>) => grpc.call('ModelInfer', { model_name: 'iris', ...request })
  const cases: Array<{ what: string, request: Record<string, unknown>, code: status, message: string | RegExp }> = [
    { what: 'a row too short', request: { inputs: [{ ...features([[1, 2, 3]]), shape: ['1', '3'], contents: { fp32_contents: [1, 2, 3] } }] }, code: status.INVALID_ARGUMENT, message: "inputs[0].shape[1]: expected 4 (model shape [-1, 4] of input 'features'), received 3" },
    { what: 'too few elements', request: { inputs: [{ ...features([setosa]), contents: { fp32_contents: [1, 2, 3] } }] }, code: status.INVALID_ARGUMENT, message: 'inputs[0].contents: expected 4 FP32 values for shape [1, 4], received an array of 3' },
    { what: 'no elements at all', request: { inputs: [features([setosa])] }, code: status.INVALID_ARGUMENT, message: 'inputs[0].contents: expected 4 FP32 values for shape [1, 4], received an array of 0' },
    { what: 'elements in the wrong field', request: { inputs: [{ ...features([setosa]), contents: { int_contents: [1, 2, 3, 4] } }] }, code: status.INVALID_ARGUMENT, message: 'inputs[0].contents: expected FP32 elements in fp32_contents, received int_contents' },
    { what: 'two contents fields', request: { inputs: [{ ...features([setosa]), contents: { fp32_contents: setosa, fp64_contents: setosa } }] }, code: status.INVALID_ARGUMENT, message: 'inputs[0].contents: expected the elements in one field, received fp32_contents and fp64_contents' },
    { what: 'contents and raw', request: { inputs: [{ ...features([setosa]), contents: { fp32_contents: setosa } }], raw_input_contents: [floats([setosa])] }, code: status.INVALID_ARGUMENT, message: 'inputs[0]: expected its elements in contents or in raw_input_contents, received both; send every input one way' },
    { what: 'raw of the wrong size', request: { inputs: [features([setosa])], raw_input_contents: [floats([setosa]).subarray(0, 12)] }, code: status.INVALID_ARGUMENT, message: 'raw_input_contents[0]: expected 16 bytes (shape [1, 4] of FP32, 4 bytes each), received 12' },
    { what: 'more raw entries than inputs', request: { inputs: [features([setosa])], raw_input_contents: [floats([setosa]), floats([setosa])] }, code: status.INVALID_ARGUMENT, message: 'raw_input_contents: expected one entry per input (1), in the order of inputs, received 2' },
    { what: 'the wrong datatype', request: { inputs: [{ ...features([setosa]), datatype: 'FP64', contents: { fp64_contents: setosa } }] }, code: status.INVALID_ARGUMENT, message: "inputs[0].datatype: expected FP32 for input 'features', received FP64" },
    { what: 'an unknown input', request: { inputs: [{ ...features([setosa]), name: 'petals', contents: { fp32_contents: setosa } }] }, code: status.INVALID_ARGUMENT, message: "inputs[0].name: unknown input 'petals'; the model's inputs are features" },
    { what: 'a negative dimension', request: { inputs: [{ ...features([setosa]), shape: ['-1', '4'], contents: { fp32_contents: setosa } }] }, code: status.INVALID_ARGUMENT, message: 'inputs[0].shape[0]: expected a non-negative integer, received -1' },
    { what: 'an unknown output', request: { inputs: [{ ...features([setosa]), contents: { fp32_contents: setosa } }], outputs: [{ name: 'colour' }] }, code: status.INVALID_ARGUMENT, message: "outputs: the model has no output 'colour'; its outputs are label, probabilities" },
    { what: 'too many rows', request: { inputs: [{ ...features(Array.from({ length: 65 }, () => setosa)), contents: { fp32_contents: Array.from({ length: 65 }, () => setosa).flat() } }] }, code: status.INVALID_ARGUMENT, message: "inputs: at most 64 rows per request for model 'iris', received 65" },
    { what: 'a shared-memory input', request: { inputs: [{ ...features([setosa]), parameters: { shared_memory_region: { string_param: 'r' } } }] }, code: status.INVALID_ARGUMENT, message: 'inputs[0].parameters.shared_memory_region: not supported by this server; remove the parameter' },
    { what: 'an unknown model', request: { model_name: 'nope', inputs: [] }, code: status.NOT_FOUND, message: /nope/ },
    { what: 'no model name', request: { model_name: '', inputs: [] }, code: status.INVALID_ARGUMENT, message: 'model_name: is required; expected a model name: up to 128 letters, digits, _ . or -, starting with a letter or digit' }
  ]
  for (const { what, request, code, message } of cases) {
    const { error } = await infer(request)
    t.equal(error?.code, code, `${what}: code ${status[code]}`)
    if (typeof message === 'string') t.equal(error?.details, message, `${what}: the message`)
    else t.match(error?.details, message, `${what}: the message`)
  }
  const after = await grpc.call<InferResponse>('ModelInfer', { model_name: 'iris', inputs: [features([setosa])], raw_input_contents: [floats([setosa])] })
  t.strictSame(irisAnswer(after.response as InferResponse).labels, [0n], 'and the server goes on')
})

t.test('auth and scopes as over HTTP: the same refusals', async t => {
  const app = await buildApp(t, {}, { token: false })
  const grpc = await grpcClientOf(t, app)
  const missing = await grpc.call('ModelMetadata', { name: 'iris' }, { token: null })
  t.equal(missing.error?.code, status.UNAUTHENTICATED)
  t.equal(missing.error?.details, 'missing bearer token: send Authorization: Bearer <token>')
  t.strictSame(missing.error?.metadata.get('www-authenticate'), ['Bearer realm="onnx-serve"'])

  const http = await app.inject({ url: '/v2/models/iris', headers: { authorization: 'Bearer a.b.c' } })
  const bad = await grpc.call('ModelMetadata', { name: 'iris' }, { token: 'a.b.c' })
  t.equal(bad.error?.code, status.UNAUTHENTICATED)
  t.equal(bad.error?.details, http.json().error, `a bad token: HTTP's message (${http.json().error as string})`)

  const expired = devToken({ sub: 'x', scope: 'predict' }, -1000)
  const httpExpired = await app.inject({ url: '/v2/models/iris', headers: { authorization: `Bearer ${expired}` } })
  t.equal((await grpc.call('ModelMetadata', { name: 'iris' }, { token: expired })).error?.details, httpExpired.json().error, 'an expired token: HTTP\'s message')

  const predictOnly = devToken({ sub: 'x', scope: 'predict' })
  const index = await grpc.call('RepositoryIndex', {}, { token: predictOnly })
  t.equal(index.error?.code, status.PERMISSION_DENIED)
  t.equal(index.error?.details, "this route needs the 'admin' scope; the token has predict")
  const adminOnly = devToken({ sub: 'x', scope: 'admin' })
  t.equal((await grpc.call('ModelInfer', { model_name: 'iris' }, { token: adminOnly })).error?.code, status.PERMISSION_DENIED, 'inference needs predict')

  // A stream without a token fails as a whole, with the status a unary call would get.
  const stream = (grpc.client as unknown as Record<string, (metadata: unknown) => NodeJS.ReadWriteStream & { write: (message: unknown) => boolean, end: () => void }>)
    .ModelStreamInfer.call(grpc.client, metadataFor(null))
  const answers: unknown[] = []
  stream.on('data', (message: unknown) => { answers.push(message) })
  const failed = new Promise<{ code?: number, details?: string }>(resolve => stream.on('error', resolve))
  stream.write({ model_name: 'iris', inputs: [features([setosa])], raw_input_contents: [floats([setosa])] })
  const streamError = await failed
  t.equal(streamError.code, status.UNAUTHENTICATED, 'a stream without a token: UNAUTHENTICATED')
  t.equal(streamError.details, 'missing bearer token: send Authorization: Bearer <token>')
  t.equal(answers.length, 0, 'and none of its messages is served')
})

t.test('one quota across HTTP and gRPC', async t => {
  const app = await buildApp(t, { RATE_LIMIT_MAX: '3' }, { token: false })
  const grpc = await grpcClientOf(t, app)
  const token = devToken({ sub: 'quota-user', scope: 'predict' })
  const authorization = `Bearer ${token}`
  t.equal((await app.inject({ url: '/v2/models/iris', headers: { authorization } })).statusCode, 200, 'HTTP 1')
  t.equal((await grpc.call('ModelMetadata', { name: 'iris' }, { token })).error, undefined, 'gRPC 2')
  t.equal((await app.inject({ url: '/v2/models/iris', headers: { authorization } })).statusCode, 200, 'HTTP 3')
  const over = await grpc.call('ModelMetadata', { name: 'iris' }, { token })
  t.equal(over.error?.code, status.RESOURCE_EXHAUSTED, 'the fourth, over gRPC: spent')
  t.match(over.error?.details, /^rate limit of 3 requests per 60 s exceeded; retry in (\d+ seconds?|1 minute)$/)
  t.ok(Number(over.error?.metadata.get('retry-after')[0]) > 0, 'with retry-after')
  const httpOver = await app.inject({ url: '/v2/models/iris', headers: { authorization } })
  t.equal(httpOver.statusCode, 429, 'and over HTTP too')
  t.match(httpOver.json().error, /^rate limit of 3 requests per 60 s exceeded; retry in (\d+ seconds?|1 minute)$/, 'in the same words')
  t.equal((await grpc.call('ServerLive', {}, { token: null })).error, undefined, 'health is never charged')
})

t.test('ModelStreamInfer: 100 requests, a bad one in the middle, each answered on its own, in order', async t => {
  const app = await buildApp(t)
  const grpc = await grpcClientOf(t, app)
  const stream = (grpc.client as unknown as Record<string, (metadata: unknown) => NodeJS.ReadWriteStream & { write: (message: unknown) => boolean, end: () => void }>)
    .ModelStreamInfer.call(grpc.client, metadataFor(undefined))
  const answers: Array<{ error_message?: string, infer_response?: InferResponse }> = []
  stream.on('data', (message: typeof answers[number]) => { answers.push(message) })
  const ended = new Promise(resolve => stream.on('end', resolve))
  for (let i = 0; i < 100; i++) {
    const bad = i === 50
    stream.write({ model_name: 'iris', id: String(i), inputs: [{ ...features([setosa]), shape: bad ? ['1', '3'] : ['1', '4'] }], raw_input_contents: [floats([bad ? setosa.slice(0, 3) : i % 2 === 0 ? setosa : virginica])] })
  }
  stream.end()
  await ended
  t.equal(answers.length, 100, 'every request answered')
  t.strictSame(answers.map(answer => answer.infer_response?.id), Array.from({ length: 100 }, (_, i) => String(i)), 'in the order sent, ids echoed')
  t.equal(answers[50].error_message, "inputs[0].shape[1]: expected 4 (model shape [-1, 4] of input 'features'), received 3", 'the bad one fails alone')
  const good = answers.filter((_, i) => i !== 50)
  t.ok(good.every(answer => answer.error_message === undefined || answer.error_message === ''), 'the others succeed')
  t.strictSame(good.map(answer => irisAnswer(answer.infer_response as InferResponse).labels[0]), good.map((_, j) => (j < 50 ? j : j + 1) % 2 === 0 ? 0n : 2n), 'each with its own answer')
})

t.test('statistics and the repository', async t => {
  const app = await buildApp(t)
  const grpc = await grpcClientOf(t, app)
  await grpc.call('ModelInfer', { model_name: 'iris', inputs: [features([setosa])], raw_input_contents: [floats([setosa])] })
  const stats = await grpc.call<{ model_stats: Array<Record<string, unknown>> }>('ModelStatistics', { name: 'iris' })
  t.match(stats.response?.model_stats, [{ name: 'iris', version: '1', inference_count: '1', execution_count: '1', inference_stats: { success: { count: '1' } } }], 'Triton\'s ModelStatistics')
  t.equal((await grpc.call<{ model_stats: unknown[] }>('ModelStatistics', {})).response?.model_stats.length, 2, 'every model without a name')

  t.strictSame((await grpc.call('RepositoryIndex', {})).response, { models: [{ name: 'iris', version: '1', state: 'READY', reason: '' }, { name: 'iris-petal-width', version: '1', state: 'READY', reason: '' }] })
  t.strictSame((await grpc.call('RepositoryModelUnload', { model_name: 'iris-petal-width' })).response, { model_name: 'iris-petal-width', isUnloaded: true }, 'Triton\'s unload (KServe\'s fields beside)')
  t.strictSame((await grpc.call('ModelReady', { name: 'iris-petal-width' })).response, { ready: false })
  t.strictSame((await grpc.call('RepositoryModelLoad', { repository_name: 'iris-petal-width' })).response, { model_name: 'iris-petal-width', isLoaded: true }, 'KServe\'s load: the name in field 1')
  t.strictSame((await grpc.call('ModelReady', { name: 'iris-petal-width' })).response, { ready: true })
  const withParameters = await grpc.call('RepositoryModelLoad', { model_name: 'iris', parameters: { config: { string_param: '{}' } } })
  t.equal(withParameters.error?.code, status.INVALID_ARGUMENT)
  t.match(withParameters.error?.details, /load parameters \(config\) are not supported/)
  const missing = await grpc.call('RepositoryModelLoad', { model_name: 'nope' })
  t.equal(missing.error?.code, status.NOT_FOUND)
  t.equal(missing.error?.details, "model 'nope' is not in the model repository: there is no folder 'nope' in it; put the model at nope/1/model.onnx")

  for (const method of ['SystemSharedMemoryStatus', 'CudaSharedMemoryRegister', 'TraceSetting', 'LogSettings']) {
    t.equal((await grpc.call(method, {})).error?.code, status.UNIMPLEMENTED, `${method}: UNIMPLEMENTED`)
  }
})
