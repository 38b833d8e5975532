// Compressed bodies and unknown URLs cost bounded work. A gzip body that
// inflates past BODY_LIMIT is refused and its inflater destroyed at once (a
// 1 MB bomb would otherwise be inflated to 1 GiB after the answer, about a
// second of CPU each); an unknown URL is answered 404, rate limited, before
// any of its body is read or inflated. The CPU the server process spends is
// measured over real sockets (the app runs in this process, so
// process.cpuUsage covers its threads, zlib's included).

import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { constants, crc32, deflateRawSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp, devToken } from '../helpers/build-app'
import { assertError } from '../helpers/responses'
import { parseResponse, type RawResponse } from '../helpers/raw-http'

const MiB = 1024 * 1024
const token = devToken({ sub: 'tester', scope: 'predict' })

/**
 * `mib` MiB of zeros, compressed: one deflate block of 1 MiB of zeros, ended
 * with a full flush so it does not depend on what came before, repeated. This
 * builds a 1000:1 bomb in a fraction of a second instead of compressing 1 GiB.
 */
function bomb (encoding: 'gzip' | 'deflate', mib: number): Buffer {
  const block = deflateRawSync(Buffer.alloc(MiB), { level: 9, finishFlush: constants.Z_FULL_FLUSH })
  const blocks = Array.from({ length: mib }, () => block)
  // A final, empty block with fixed codes.
  const last = Buffer.from([0x03, 0x00])
  if (encoding === 'deflate') {
    // zlib's wrapper; its Adler-32 check is left at 0: nothing should read that far.
    return Buffer.concat([Buffer.from([0x78, 0xda]), ...blocks, last, Buffer.alloc(4)])
  }
  let crc = 0
  const zeros = Buffer.alloc(MiB)
  for (let i = 0; i < mib; i++) crc = crc32(zeros, crc)
  const trailer = Buffer.alloc(8)
  trailer.writeUInt32LE(crc >>> 0, 0)
  trailer.writeUInt32LE((mib * MiB) >>> 0, 4)
  return Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), ...blocks, last, trailer])
}

/**
 * Sends `head` then `body` on a new connection and reads until the server
 * closes it or a whole response has arrived; at most `timeoutMs`. A raw
 * socket, because the server may close before the upload is done: what it
 * answered first is still read.
 */
function exchange (port: number, head: string, body: Buffer = Buffer.alloc(0), timeoutMs = 10_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(head)
      socket.write(body)
    })
    const timer = setTimeout(() => socket.destroy(), timeoutMs)
    const finish = (): void => {
      clearTimeout(timer)
      const parsed = parseResponse(Buffer.concat(chunks).toString('latin1'))
      if (parsed === undefined) reject(new Error(`no complete response within ${timeoutMs} ms`))
      else resolve(parsed)
    }
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      if (parseResponse(Buffer.concat(chunks).toString('latin1')) !== undefined) socket.destroy()
    })
    // An upload cut short by the server: the answer sent before is what counts.
    socket.on('error', () => {})
    socket.on('close', finish)
  })
}

/** The head of a POST whose body is `length` bytes, or chunked. */
function post (path: string, headers: Record<string, string>, length: number | 'chunked'): string {
  const framing = length === 'chunked' ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(length) }
  const lines = Object.entries({ host: 'localhost', 'content-type': 'application/json', ...framing, ...headers })
  return `POST ${path} HTTP/1.1\r\n${lines.map(([name, value]) => `${name}: ${value}`).join('\r\n')}\r\n\r\n`
}

const cpuMs = (usage: NodeJS.CpuUsage): number => (usage.user + usage.system) / 1000

/** Waits (at most 5 s) until the app is idle, so start-up work is not counted. */
async function settle (): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const before = process.cpuUsage()
    await sleep(250)
    if (cpuMs(process.cpuUsage(before)) < 25) return
  }
}

/**
 * The CPU this process spends from sending `requests` until `afterMs` after
 * the last answer, less what it spends idle over as long a time.
 */
async function cpuCost (requests: () => Promise<RawResponse[]>, afterMs = 1500): Promise<{ answers: RawResponse[], costMs: number, elapsedMs: number }> {
  await settle()
  const started = Date.now()
  const before = process.cpuUsage()
  const answers = await requests()
  await sleep(afterMs)
  const spent = cpuMs(process.cpuUsage(before))
  const elapsedMs = Date.now() - started
  const idleBefore = process.cpuUsage()
  await sleep(elapsedMs)
  return { answers, costMs: spent - cpuMs(process.cpuUsage(idleBefore)), elapsedMs }
}

// A bomb's inflating costs about 1 s of CPU per GiB here; 4 of them, far more.
const BOMBS = 4
const BOMB_MIB = 1000
// What reading and refusing 4 MB of uploads may cost, with room for a busy machine.
const CPU_BUDGET_MS = 350

let app: FastifyInstance
let port: number
let gzipBomb: Buffer
let deflateBomb: Buffer

t.before(async () => {
  // Shedding off: a busy machine must not turn these answers into 503s.
  app = await buildApp(t, { MAX_EVENT_LOOP_DELAY_MS: '0' }, { token: false })
  port = Number(new URL(await app.listen({ port: 0, host: '127.0.0.1' })).port)
  gzipBomb = bomb('gzip', BOMB_MIB)
  deflateBomb = bomb('deflate', BOMB_MIB)
})

t.test('the bombs are what they claim: under BODY_LIMIT (1 MiB), inflating 1000:1', async t => {
  t.ok(gzipBomb.length < MiB && deflateBomb.length < MiB, `${gzipBomb.length} and ${deflateBomb.length} bytes`)
  // The same construction, small enough to inflate here.
  t.equal(gunzipSync(bomb('gzip', 4)).length, 4 * MiB, 'a valid gzip stream')
  t.equal(inflateSync(bomb('deflate', 4).subarray(0, -4), { finishFlush: constants.Z_SYNC_FLUSH }).length, 4 * MiB, 'a deflate stream')
})

t.test('gzip bombs to an unknown /v2 path: 404 before any byte is read or inflated, at bounded CPU', async t => {
  const { answers, costMs, elapsedMs } = await cpuCost(() => Promise.all(Array.from({ length: BOMBS }, (_, i) =>
    exchange(port, post('/v2/nope', { 'content-encoding': 'gzip', 'x-request-id': `bomb-${i}` }, gzipBomb.length), gzipBomb))))
  t.comment(`${BOMBS} bombs of ${BOMB_MIB} MiB to /v2/nope: ${Math.round(costMs)} ms of CPU over ${elapsedMs} ms`)
  answers.forEach((answer, i) => {
    t.equal(answer.statusCode, 404, 'a 404, not a 413: the body was never parsed')
    t.same(JSON.parse(answer.body), { error: 'Route POST:/v2/nope not found' }, 'the /v2 error shape')
    t.equal(answer.headers['x-request-id'], `bomb-${i}`, 'the request id is echoed')
    t.equal(answer.headers.connection, 'close', 'the unread upload is not drained: the connection closes')
  })
  t.ok(costMs < CPU_BUDGET_MS, `the server spent ${Math.round(costMs)} ms of CPU (budget ${CPU_BUDGET_MS} ms)`)
})

t.test('gzip and deflate bombs to a known infer route with a valid token: 413 at BODY_LIMIT, at bounded CPU', async t => {
  const bombs = Array.from({ length: BOMBS }, (_, i) => i % 2 === 0 ? ['gzip', gzipBomb] as const : ['deflate', deflateBomb] as const)
  const { answers, costMs, elapsedMs } = await cpuCost(() => Promise.all(bombs.map(([encoding, body]) =>
    exchange(port, post('/v2/models/iris/infer', { 'content-encoding': encoding, authorization: `Bearer ${token}` }, body.length), body))))
  t.comment(`${BOMBS} bombs of ${BOMB_MIB} MiB to /v2/models/iris/infer: ${Math.round(costMs)} ms of CPU over ${elapsedMs} ms`)
  for (const answer of answers) {
    t.equal(answer.statusCode, 413)
    t.same(JSON.parse(answer.body), { error: 'Request body is too large' })
    t.equal(answer.headers.connection, 'close')
  }
  t.ok(costMs < CPU_BUDGET_MS, `the server spent ${Math.round(costMs)} ms of CPU (budget ${CPU_BUDGET_MS} ms)`)
})

t.test('compressed bytes that inflate to nothing are bounded by BODY_LIMIT too', async t => {
  // Empty stored blocks: 5 bytes each, no output. Chunked, so no Content-Length is refused up front.
  const empty = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff])
  const payload = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), ...Array.from({ length: Math.ceil(2 * MiB / 5) }, () => empty)])
  const head = post('/v2/models/iris/infer', { 'content-encoding': 'gzip', authorization: `Bearer ${token}` }, 'chunked')
  const answer = await exchange(port, head, Buffer.concat([Buffer.from(`${payload.length.toString(16)}\r\n`), payload, Buffer.from('\r\n0\r\n\r\n')]))
  t.equal(answer.statusCode, 413)
  t.same(JSON.parse(answer.body), { error: 'Request body is too large' })
})

t.test('a gzip body within the limit is still served, over a real socket', async t => {
  const json = JSON.stringify({ inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] })
  const body = gzipSync(json)
  const answer = await exchange(port, post('/v2/models/iris/infer', { 'content-encoding': 'gzip', authorization: `Bearer ${token}` }, body.length), body)
  t.equal(answer.statusCode, 200)
  t.match(JSON.parse(answer.body), { model_name: 'iris', outputs: [{ name: 'label', data: [0] }] })
  t.equal(answer.headers.connection, 'keep-alive', 'a body read in full keeps the connection')
})

t.test('unknown URLs: 404 whatever the body (never read), rate limited per client', async t => {
  const limited = await buildApp(t, { RATE_LIMIT_MAX: '3', MAX_EVENT_LOOP_DELAY_MS: '0' }, { token: false })
  const big = JSON.stringify({ input_data: 'x'.repeat(2 * MiB) })
  const requests = [
    // Over BODY_LIMIT: was a 413 (the body was read first).
    { url: '/nope', headers: { 'content-type': 'application/json', 'x-request-id': 'nope-1' }, payload: big },
    // A content encoding only /v2 takes: was a 415.
    { url: '/nope', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'x-request-id': 'nope-2' }, payload: 'not gzip' },
    { url: '/v2/nope', headers: { 'content-encoding': 'gzip', 'x-request-id': 'nope-3' }, payload: gzipBomb }
  ]
  for (const [i, request] of requests.entries()) {
    const res = await limited.inject({ method: 'POST', ...request })
    t.equal(res.headers['x-request-id'], `nope-${i + 1}`, 'the request id is echoed')
    t.equal(res.headers['x-ratelimit-remaining'], String(2 - i), 'counted against the client\'s quota')
    if (request.url.startsWith('/v2')) {
      t.equal(res.statusCode, 404)
      t.same(res.json(), { error: 'Route POST:/v2/nope not found' })
    } else {
      assertError(t, res, { statusCode: 404, code: 'NOT_FOUND', message: 'Route POST:/nope not found' })
    }
  }
  const over = await limited.inject({ method: 'POST', url: '/nope', headers: { 'content-type': 'application/json', 'x-request-id': 'nope-4' }, payload: big })
  assertError(t, over, { statusCode: 429, code: 'ONNX_SERVE_RATE_LIMITED', message: /^rate limit of 3 requests per 60 s exceeded; retry in / })
  t.ok(Number(over.headers['retry-after']) > 0, 'with Retry-After')
  t.equal(over.headers['x-request-id'], 'nope-4')
  const overV2 = await limited.inject({ method: 'POST', url: '/v2/nope', headers: { 'content-encoding': 'gzip' }, payload: gzipBomb })
  t.equal(overV2.statusCode, 429)
  t.same(Object.keys(overV2.json()), ['error'], 'the /v2 error shape')
  // Another client still has its quota.
  const other = await limited.inject({ method: 'GET', url: '/nope', remoteAddress: '203.0.113.7' })
  t.equal(other.statusCode, 404)
})
