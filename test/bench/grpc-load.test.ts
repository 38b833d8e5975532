import t from 'tap'
import { Server, ServerCredentials, status, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js'
import { loadInferenceService } from '../../grpc/service-definition'
import { GrpcLoad, MODEL_INFER_PATH, channelCount, fp32Bytes, serializedRequests, statusName } from '../../bench/lib/grpc-load'
import { MODELS } from '../../bench/lib/models'
import { randomRows } from '../../bench/lib/scenarios'
import { buildApp, devToken } from '../helpers/build-app'
import { listenGrpc } from '../helpers/grpc-client'

interface InferRequest {
  model_name: string
  inputs: Array<{ name: string, datatype: string, shape: string[] }>
  raw_input_contents: Buffer[]
}

t.test('one HTTP/2 channel per 10 calls in flight', async t => {
  t.strictSame([1, 10, 11, 20, 64].map(channelCount), [1, 1, 2, 2, 7])
  t.equal(MODEL_INFER_PATH, '/inference.GRPCInferenceService/ModelInfer')
  t.equal(statusName(status.RESOURCE_EXHAUSTED), 'RESOURCE_EXHAUSTED')
  t.equal(statusName(99), '99', 'a code grpc-js does not name')
})

t.test('the requests: one row each, FP32 little-endian in raw_input_contents, serialized once', async t => {
  t.strictSame([...fp32Bytes([1, -0.5])], [0, 0, 0x80, 0x3f, 0, 0, 0, 0xbf])
  const rows = randomRows(MODELS.small, 3, 7)
  const requests = serializedRequests(MODELS.small, rows)
  t.equal(requests.length, 3)
  const decoded = loadInferenceService().ModelInfer.requestDeserialize(requests[1]) as InferRequest
  t.strictSame({ ...decoded, raw_input_contents: undefined }, {
    model_name: 'mlp-small',
    inputs: [{ name: 'features', datatype: 'FP32', shape: ['1', '64'] }],
    raw_input_contents: undefined
  })
  const floats = new Float32Array(decoded.raw_input_contents[0].buffer.slice(decoded.raw_input_contents[0].byteOffset, decoded.raw_input_contents[0].byteOffset + 256))
  t.strictSame([...floats], rows[1].map(value => Math.fround(value)), 'the row of the pool, as float32')
})

/** A stub of the service on a free port: ModelInfer answers OK, refuses the rows starting with `refuse`, never answers those starting with `hang`. */
async function stubServer (t: { teardown: (fn: () => unknown) => void }, refuse: number, hang: number): Promise<{ port: number, rows: Map<number, number>, peers: Set<string>, authorized: () => number }> {
  const rows = new Map<number, number>()
  const peers = new Set<string>()
  let authorized = 0
  const server = new Server()
  server.addService(loadInferenceService(), {
    ModelInfer: (call: ServerUnaryCall<InferRequest, unknown>, callback: sendUnaryData<unknown>) => {
      peers.add(call.getPeer())
      if (call.metadata.get('authorization')[0] === 'Bearer tok') authorized++
      const first = call.request.raw_input_contents[0].readFloatLE(0)
      rows.set(first, (rows.get(first) ?? 0) + 1)
      if (first === hang) return
      if (first === refuse) callback({ code: status.RESOURCE_EXHAUSTED, details: 'quota' })
      else callback(null, { model_name: call.request.model_name })
    }
  })
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => error === null ? resolve(bound) : reject(error)))
  t.teardown(() => server.forceShutdown())
  return { port, rows, peers, authorized: () => authorized }
}

t.test('a run against a stub: every row sent with the token, statuses and deadlines counted apart, channels spread', async t => {
  const pool = [[1, 0], [2, 0], [3, 0], [4, 0]]
  const stub = await stubServer(t, 3, 4)
  const load = new GrpcLoad({ address: `127.0.0.1:${stub.port}`, token: 'tok', inFlight: 12, requests: serializedRequests(MODELS.iris, pool), deadlineMs: 200 })
  t.teardown(() => load.close())
  await load.ready()
  const result = await load.run(1)
  t.equal(result.generator, 'grpc')
  // How many depends on the machine's load (speed is the bench's to measure): that they are counted is the point.
  t.ok(result.ok > 0, `${result.ok} OK answers in 1 s`)
  t.strictSame([...stub.rows.keys()].sort(), [1, 2, 3, 4], 'every row of the pool was sent')
  t.equal(stub.authorized(), [...stub.rows.values()].reduce((sum, count) => sum + count, 0), 'every call carried the token')
  t.equal(stub.peers.size, 2, 'twelve calls in flight on two HTTP/2 connections')
  t.strictSame(Object.keys(result.statusCodes).sort(), ['OK', 'RESOURCE_EXHAUSTED'], 'statuses by name; a deadline passed is not a status answered')
  t.equal(result.statusCodes.OK, result.ok)
  t.equal(result.non2xx, result.statusCodes.RESOURCE_EXHAUSTED)
  t.equal(result.non2xx, stub.rows.get(3), 'every refusal counted')
  t.equal(result.timeouts, stub.rows.get(4), 'every call left unanswered timed out')
  t.equal(result.errors, result.timeouts)
  t.ok(result.seconds >= 1 && result.seconds < 2, `the run lasted ${result.seconds} s: the last calls end within their deadline`)
  t.equal(result.rps, result.ok / result.seconds)
  t.equal(result.latency.count, result.ok, 'latency of OK answers only')
  t.ok(result.latency.p99 >= result.latency.p50 && result.latency.p50 > 0, `p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`)
  t.ok(result.loadCpu > 0 && result.loadCpu < 1.5, `the loop's own CPU: ${result.loadCpu}`)
  t.ok(result.endUs - result.startUs >= 1e6)
})

t.test('ready() resolves once the channels connect, and gives up on a port nobody listens on', async t => {
  const stub = await stubServer(t, NaN, NaN)
  const load = new GrpcLoad({ address: `127.0.0.1:${stub.port}`, token: 'tok', inFlight: 1, requests: serializedRequests(MODELS.iris, [[1, 2, 3, 4]]) })
  t.teardown(() => load.close())
  await load.ready()
  const nobody = new GrpcLoad({ address: '127.0.0.1:1', token: 'tok', inFlight: 1, requests: serializedRequests(MODELS.iris, [[1, 2, 3, 4]]) })
  t.teardown(() => nobody.close())
  await t.rejects(nobody.ready(300), /gRPC channel to 127\.0\.0\.1:1 not ready after 0\.3 s/)
  t.throws(() => new GrpcLoad({ address: '127.0.0.1:1', token: 'tok', inFlight: 1, requests: [] }), /at least one request/)
})

t.test('a run against onnx-serve\'s own gRPC service: the requests are ModelInfer calls it answers', async t => {
  const app = await buildApp(t)
  const port = await listenGrpc(app)
  const load = new GrpcLoad({ address: `127.0.0.1:${port}`, token: devToken(), inFlight: 4, requests: serializedRequests(MODELS.iris, randomRows(MODELS.iris, 64, 7)) })
  t.teardown(() => load.close())
  await load.ready()
  const result = await load.run(1)
  t.ok(result.ok > 0, `${result.ok} OK answers in 1 s`)
  t.strictSame(result.statusCodes, { OK: result.ok }, 'nothing refused')
  t.equal(result.errors, 0)
})
