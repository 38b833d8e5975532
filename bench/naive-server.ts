// The naive ceiling: what a user would write instead of adopting onnx-serve.
// One route, session.run on the event loop, outputs back as JSON; no auth, no
// validation beyond JSON parse, no logs, no worker thread. With GRPC_PORT,
// the same over gRPC: ModelInfer with FP32 raw_input_contents in, the
// outputs as raw_output_contents. Used by bench.ts:
//
//   MODEL_PATH=model.onnx PORT=3999 [GRPC_PORT=8001] node bench/dist/bench/naive-server.js
//   POST /predict {"input_data": [[...row...], ...]}

import Fastify from 'fastify'
import * as ort from 'onnxruntime-node'
import { grpcPortOf, naiveInfer, serveModelInfer } from './lib/grpc-ceiling'

async function main (): Promise<void> {
  // One intra-op thread, as onnx-serve's worker sessions: the bench pins this process to one core.
  const session = await ort.InferenceSession.create(process.env.MODEL_PATH ?? 'model.onnx', { intraOpNumThreads: 1 })
  const fastify = Fastify({ logger: { level: 'warn' } })
  fastify.post<{ Body: { input_data: number[][] } }>('/predict', async request => {
    const rows = request.body.input_data
    const input = new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, rows[0].length])
    const outputs = await session.run({ [session.inputNames[0]]: input })
    // Number(): int64 outputs (iris's label) come as BigInt, which JSON cannot carry.
    return Object.fromEntries(Object.entries(outputs).map(([name, tensor]) => [name, Array.from(tensor.data as Float32Array, Number)]))
  })
  const grpcPort = grpcPortOf(process.env)
  const grpc = grpcPort === undefined ? undefined : await serveModelInfer(grpcPort, async request => await naiveInfer(session, request))
  const address = await fastify.listen({ port: Number(process.env.PORT ?? 3999), host: '127.0.0.1' })
  process.stdout.write(`listening at ${address}\n`)
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => { grpc?.stop(); fastify.close().then(() => process.exit(0)) })
}

main().catch(error => {
  process.stderr.write(`naive-server: ${error instanceof Error ? error.stack : String(error)}\n`)
  process.exit(1)
})
