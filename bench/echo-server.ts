// The ceiling for HTTP + JSON on Fastify: a server that parses the body and
// sends it back, on any path (so it is sent exactly what onnx-serve is, URL
// included), logging at warn like onnx-serve outside requests. Used by bench.ts.

import Fastify from 'fastify'

const fastify = Fastify({ logger: { level: 'warn' } })
fastify.post('/*', async request => request.body)
fastify.listen({ port: Number(process.env.PORT ?? 3999), host: '127.0.0.1' }).then(address => {
  process.stdout.write(`listening at ${address}\n`)
})
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => { fastify.close().then(() => process.exit(0)) })
