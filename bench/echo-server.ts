// The ceiling for HTTP + JSON on Fastify: a server that parses the body and
// sends it back, on any path (so it is sent exactly what onnx-serve is, URL
// included), logging at warn like onnx-serve outside requests. With
// GRPC_PORT, also the ceiling of gRPC: ModelInfer answering with the
// request's own tensors (bench/lib/grpc-ceiling.ts). Used by bench.ts.

import Fastify from 'fastify'
import { echoInfer, grpcPortOf, serveModelInfer } from './lib/grpc-ceiling'

async function main (): Promise<void> {
  const fastify = Fastify({ logger: { level: 'warn' } })
  fastify.post('/*', async request => request.body)
  const grpcPort = grpcPortOf(process.env)
  const grpc = grpcPort === undefined ? undefined : await serveModelInfer(grpcPort, echoInfer)
  const address = await fastify.listen({ port: Number(process.env.PORT ?? 3999), host: '127.0.0.1' })
  process.stdout.write(`listening at ${address}\n`)
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => { grpc?.stop(); fastify.close().then(() => process.exit(0)) })
}

main().catch(error => {
  process.stderr.write(`echo-server: ${error instanceof Error ? error.stack : String(error)}\n`)
  process.exit(1)
})
