import t, { type Test } from 'tap'
import { status } from '@grpc/grpc-js'
import * as ort from 'onnxruntime-node'
import { inferenceClient, type InferenceClient } from '../helpers/grpc-client'
import { echoInfer, grpcPortOf, naiveInfer, serveModelInfer, type ModelInferRequest, type ModelInferResponse } from '../../bench/lib/grpc-ceiling'
import { GrpcLoad, fp32Bytes, modelInferRequest, serializedRequests } from '../../bench/lib/grpc-load'
import { MLP_SPECS, MODELS, mlpOnnx } from '../../bench/lib/models'
import { randomRows } from '../../bench/lib/scenarios'

/** A client of the server at `port` (no token: the ceilings check none), closed after the test. */
function clientOf (t: Test, port: number): InferenceClient {
  const client = inferenceClient(`127.0.0.1:${port}`)
  t.teardown(() => client.client.close())
  return client
}

t.test('GRPC_PORT: a port to serve on, or nothing', async t => {
  t.equal(grpcPortOf({ GRPC_PORT: '8001' }), 8001)
  t.equal(grpcPortOf({}), undefined)
  t.equal(grpcPortOf({ GRPC_PORT: '0' }), undefined, '0 is HTTP only, as for onnx-serve')
  t.equal(grpcPortOf({ GRPC_PORT: 'x' }), undefined)
})

t.test('the echo answers ModelInfer with the request\'s own tensors; every other method is UNIMPLEMENTED', async t => {
  const { port, stop } = await serveModelInfer(0, echoInfer)
  t.teardown(stop)
  const client = clientOf(t, port)
  const row = randomRows(MODELS.small, 1, 7)[0]
  const { response: answer } = await client.call<ModelInferResponse>('ModelInfer', modelInferRequest(MODELS.small, row), { token: null })
  t.equal(answer?.model_name, 'mlp-small')
  t.strictSame(answer?.outputs, [{ name: 'features', datatype: 'FP32', shape: ['1', '64'] }])
  t.strictSame(answer?.raw_output_contents, [fp32Bytes(row)], 'the row\'s bytes back')

  const other = await client.call('ServerLive', {}, { token: null })
  t.equal(other.error?.code, status.UNIMPLEMENTED)

  const load = new GrpcLoad({ address: `127.0.0.1:${port}`, token: 'unused', inFlight: 3, requests: serializedRequests(MODELS.small, randomRows(MODELS.small, 4, 7)) })
  t.teardown(() => { load.close() })
  await load.ready()
  const result = await load.run(0.3)
  t.ok(result.ok > 0, 'the bench\'s loop gets OK answers')
  t.equal(result.non2xx + result.errors, 0)
})

t.test('the naive handler runs the row through session.run and answers the outputs as raw bytes', async t => {
  const session = await ort.InferenceSession.create(mlpOnnx(MLP_SPECS.small), { intraOpNumThreads: 1 })
  t.teardown(async () => { await session.release() })
  const { port, stop } = await serveModelInfer(0, async request => await naiveInfer(session, request))
  t.teardown(stop)
  const client = clientOf(t, port)
  const row = randomRows(MODELS.small, 1, 7)[0]
  const { response: answer } = await client.call<ModelInferResponse>('ModelInfer', modelInferRequest(MODELS.small, row), { token: null })
  const expected = await session.run({ features: new ort.Tensor('float32', Float32Array.from(row), [1, 64]) })
  t.strictSame(answer?.outputs, [{ name: 'scores', datatype: 'FP32', shape: ['1', '10'] }])
  const bytes = answer?.raw_output_contents[0] ?? Buffer.alloc(0)
  t.strictSame([...new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))], [...expected.scores.data as Float32Array])

  // A row of the wrong width fails the run: the client gets INTERNAL with the runtime's message, and the server goes on.
  const wrong: ModelInferRequest = { model_name: 'mlp-small', inputs: [{ name: 'features', datatype: 'FP32', shape: ['1', '3'] }], raw_input_contents: [fp32Bytes([1, 2, 3])] }
  const failed = await client.call('ModelInfer', wrong, { token: null })
  t.equal(failed.error?.code, status.INTERNAL)
  t.match(failed.error?.details, /features|dimension|Got invalid/i)
  t.ok((await client.call('ModelInfer', modelInferRequest(MODELS.small, row), { token: null })).response, 'still serving')
})
