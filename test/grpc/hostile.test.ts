// What an outsider can make the gRPC port hold: connections (the same
// limits as HTTP's), messages without a token (refused before they are
// read), a message that never ends, a stream that never reads its answers,
// health checks of made-up services, refusals quoting huge input.

import { connect } from 'node:http2'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { credentials, loadPackageDefinition, status, type Client } from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { protoPath as healthProto } from 'grpc-health-check'
import { buildApp, devToken } from '../helpers/build-app'
import { grpcClientOf, inferenceClient, listenGrpc } from '../helpers/grpc-client'
import { loadInferenceService } from '../../grpc/service-definition'

const setosa = [5.1, 3.5, 1.4, 0.2]
const irisRequest = (id?: string) => ({
  model_name: 'iris',
  ...(id === undefined ? {} : { id }),
  inputs: [{ name: 'features', datatype: 'FP32', shape: ['1', '4'] }],
  raw_input_contents: [Buffer.from(new Float32Array(setosa).buffer)]
})

/** A gRPC frame: the compressed flag, the length, the message. */
const frame = (message: Buffer): Buffer => Buffer.concat([Buffer.from([0]), Buffer.from([0, 0, 0, 0].map((_, i) => (message.length >>> (24 - 8 * i)) & 0xff)), message])

/** A raw HTTP/2 call: what grpc-js would send, without grpc-js. Resolves with the status and message in the trailers. */
async function rawCall (port: number, path: string, body: Buffer, { end = true, headers = {} }: { end?: boolean, headers?: Record<string, string> } = {}): Promise<{ status: number, message: string, ms: number }> {
  const started = Date.now()
  const session = connect(`http://127.0.0.1:${port}`)
  session.on('error', () => {})
  try {
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers })
    stream.on('error', () => {})
    const trailers = new Promise<Record<string, unknown>>(resolve => {
      stream.on('trailers', resolve)
      // A trailers-only answer comes as the response headers.
      stream.on('response', response => { if (response['grpc-status'] !== undefined) resolve(response) })
    })
    stream.resume()
    stream.write(body)
    if (end) stream.end()
    const got = await trailers
    return { status: Number(got['grpc-status']), message: decodeURIComponent(String(got['grpc-message'] ?? '')), ms: Date.now() - started }
  } finally {
    // A stream left open (a message that never ends) would hold the session, and the server's drain, open.
    session.destroy()
  }
}

t.test('connections count in the same limits as HTTP\'s, per address', async t => {
  const app = await buildApp(t, { MAX_CONNECTIONS_PER_ADDRESS: '3' })
  const port = await listenGrpc(app)
  // Each client its own connection (no shared subchannel pool).
  const clients = Array.from({ length: 5 }, () => inferenceClient(`127.0.0.1:${port}`, { 'grpc.use_local_subchannel_pool': 1 }))
  t.teardown(() => { for (const client of clients) client.client.close() })
  const outcomes = []
  for (const client of clients) outcomes.push(await client.call('ServerLive', {}, { token: null, deadlineMs: 2000 }))
  t.equal(outcomes.filter(outcome => outcome.error === undefined).length, 3, 'three connections from one address')
  t.ok(outcomes.slice(3).every(outcome => outcome.error?.code === status.UNAVAILABLE), 'the fourth and fifth are closed at once')
  t.equal(app.connectionLimiter.connections, 3, 'and counted with HTTP\'s')
  clients[0].client.close()
  await sleep(200)
  t.equal(app.connectionLimiter.connections, 2, 'a closed connection frees its place')
})

t.test('a call without a good token is refused before its message is read', async t => {
  const app = await buildApp(t, {}, { token: false })
  const port = await listenGrpc(app)
  // Bytes that are no ModelInferRequest: decoding them would fail (INTERNAL). Refused first, they never are.
  const garbage = frame(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]))
  const refused = await rawCall(port, '/inference.GRPCInferenceService/ModelInfer', garbage)
  t.equal(refused.status, status.UNAUTHENTICATED, 'UNAUTHENTICATED, not a decoding error')
  t.equal(refused.message, 'missing bearer token: send Authorization: Bearer <token>')
  const decoded = await rawCall(port, '/inference.GRPCInferenceService/ModelInfer', garbage, { headers: { authorization: `Bearer ${devToken()}` } })
  t.equal(decoded.status, status.INTERNAL, 'with a token, the same bytes are read (and refused as not a message)')
  // A message that never ends, without a token: refused at once, not held.
  const partial = await rawCall(port, '/inference.GRPCInferenceService/ModelInfer', frame(Buffer.alloc(1000)).subarray(0, 500), { end: false })
  t.equal(partial.status, status.UNAUTHENTICATED)
  t.ok(partial.ms < 1000, `answered in ${partial.ms} ms, without waiting for the rest`)
})

t.test('a message that never ends, with a token: ended after REQUEST_TIMEOUT_MS', async t => {
  const app = await buildApp(t, { REQUEST_TIMEOUT_MS: '1000' })
  const port = await listenGrpc(app)
  const partial = await rawCall(port, '/inference.GRPCInferenceService/ModelInfer', frame(Buffer.alloc(1000)).subarray(0, 500), { end: false, headers: { authorization: `Bearer ${devToken()}` } })
  t.equal(partial.status, status.DEADLINE_EXCEEDED)
  t.equal(partial.message, 'the request message was not received within 1000 ms (REQUEST_TIMEOUT_MS)')
  t.ok(partial.ms >= 900 && partial.ms < 5000, `after ${partial.ms} ms`)
})

t.test('a stream that does not read its answers stops being read', async t => {
  const app = await buildApp(t)
  const port = await listenGrpc(app)
  // Raw HTTP/2 with Node's 64 KiB stream window: grpc-js's own client reads
  // and keeps every answer of a stream whose caller has not begun to read,
  // so it would not hold the server back. This one reads nothing until told.
  const session = connect(`http://127.0.0.1:${port}`)
  session.on('error', () => {})
  const stream = session.request({ ':method': 'POST', ':path': '/inference.GRPCInferenceService/ModelStreamInfer', 'content-type': 'application/grpc', te: 'trailers', authorization: `Bearer ${devToken()}` })
  stream.on('error', () => {})
  const serialize = loadInferenceService().ModelStreamInfer.requestSerialize
  const sent = 30_000
  for (let i = 0; i < sent; i++) stream.write(frame(serialize(irisRequest(String(i)))))
  stream.end()

  const grpc = inferenceClient(`127.0.0.1:${port}`)
  t.teardown(() => grpc.client.close())
  const served = async (): Promise<number> => Number((await grpc.call<{ model_stats: Array<{ inference_count: string }> }>('ModelStatistics', { name: 'iris' })).response?.model_stats[0].inference_count)
  let held = await served()
  for (const until = Date.now() + 20_000; Date.now() < until;) {
    await sleep(1000)
    const now = await served()
    if (now === held && now > 0) break
    held = now
  }
  t.equal(await served(), held, `the count stopped growing, at ${held}`)
  t.ok(held < 3000, `${held} of ${sent} served while the client read nothing: what the windows and buffers below the stream hold, not all`)

  // Once it reads, every request is answered, in order.
  let buffered = Buffer.alloc(0)
  let answers = 0
  stream.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk])
    while (buffered.length >= 5 && buffered.length >= 5 + buffered.readUInt32BE(1)) {
      buffered = buffered.subarray(5 + buffered.readUInt32BE(1))
      answers++
    }
  })
  const trailers = await new Promise<Record<string, unknown>>(resolve => stream.on('trailers', resolve))
  t.equal(trailers['grpc-status'], '0', 'the stream ends OK')
  t.equal(answers, sent, 'once it reads, every request is answered')
  session.destroy()
})

t.test('health of a made-up service: NOT_FOUND, nothing kept', async t => {
  const app = await buildApp(t)
  const port = await listenGrpc(app)
  const loaded = loadPackageDefinition(loadSync(healthProto, { keepCase: true })) as unknown as { grpc: { health: { v1: { Health: new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => Client } } } }
  const client = new loaded.grpc.health.v1.Health(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as Record<string, (request: unknown, callback?: (error: { code: number, details: string } | null) => void) => NodeJS.ReadableStream>
  t.teardown(() => (client as unknown as Client).close())
  const name = 'x'.repeat(100_000)
  const checked = await new Promise<{ code: number, details: string } | null>(resolve => client.Check({ service: name }, resolve))
  t.equal(checked?.code, status.NOT_FOUND)
  t.notMatch(checked?.details, /xxxx/, 'the name is not echoed')
  const watch = client.Watch({ service: name })
  const watched = await new Promise<{ code: number }>(resolve => watch.on('error', resolve))
  t.equal(watched.code, status.NOT_FOUND, 'a Watch of it ends at once')
})

t.test('a refusal quoting huge input is cut short', async t => {
  const app = await buildApp(t)
  const grpc = await grpcClientOf(t, app)
  const { error } = await grpc.call('ModelInfer', { ...irisRequest(), inputs: [{ name: 'features', datatype: 'FP32', shape: Array.from({ length: 20_000 }, () => '1') }] })
  t.equal(error?.code, status.INVALID_ARGUMENT)
  t.ok((error?.details.length ?? Infinity) < 1100, `${error?.details.length ?? 0} characters`)
  t.match(error?.details, /^inputs\[0\]\.shape: expected a shape matching \[-1, 4\].*… \(\d+ more characters\)$/)
  t.equal((await grpc.call('ModelInfer', irisRequest())).error, undefined, 'and the connection serves the next call')
})
