// Slow and greedy clients hold the server for bounded times: headers or a
// body dripped byte by byte get a JSON 408 within about a second of
// REQUEST_TIMEOUT_MS (Node checked every 30 s before), a connection that sends
// nothing likewise; a refusal sent before the body was read closes the
// connection instead of draining the upload; an idle keep-alive connection is
// closed after KEEP_ALIVE_TIMEOUT_MS; one address holds at most
// MAX_CONNECTIONS_PER_ADDRESS connections, except trusted proxies. app.inject
// opens no sockets, so these run against listening apps over raw sockets.

import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { buildApp, devToken } from '../helpers/build-app'
import { parseResponse, type RawResponse } from '../helpers/raw-http'

const token = devToken({ sub: 'tester', scope: 'predict' })
const REQUEST_TIMEOUT_MS = 1000
const KEEP_ALIVE_TIMEOUT_MS = 1000
// Node checks deadlines four times a second (app.ts); the rest is a busy machine's slack.
const DEADLINE_SLACK_MS = 1500

/** A raw connection that records what arrives, when the first response completed, and when it closed. */
class Client {
  readonly socket: Socket
  readonly opened = Date.now()
  /** Everything the server sent since the last request (get). */
  received = ''
  response: RawResponse | undefined
  respondedAt: number | undefined
  closedAt: number | undefined
  readonly closed: Promise<void>
  readonly connected: Promise<unknown>

  constructor (port: number) {
    this.socket = connect(port, '127.0.0.1')
    this.connected = once(this.socket, 'connect')
    // The server may reset an upload it refused: that is the point, not a failure.
    this.socket.on('error', () => {})
    this.socket.on('data', (chunk: Buffer) => {
      this.received += chunk.toString('latin1')
      if (this.response === undefined) {
        this.response = parseResponse(this.received)
        if (this.response !== undefined) this.respondedAt = Date.now()
      }
    })
    this.closed = once(this.socket, 'close').then(() => { this.closedAt = Date.now() })
  }

  /** Waits at most `ms` for the server to close; the test client closes it otherwise. */
  async closedWithin (ms: number): Promise<number | undefined> {
    await Promise.race([this.closed, sleep(ms)])
    const closedAt = this.closedAt
    this.socket.destroy()
    return closedAt === undefined ? undefined : closedAt - this.opened
  }

  /** Writes `text` one byte every `intervalMs` while the connection is open, for at most `maxMs`. */
  drip (text: string, intervalMs: number, maxMs: number): void {
    let at = 0
    const timer = setInterval(() => {
      if (this.socket.destroyed || at >= text.length || Date.now() - this.opened > maxMs) {
        clearInterval(timer)
        return
      }
      this.socket.write(text[at++])
    }, intervalMs)
    this.socket.once('close', () => clearInterval(timer))
  }

  /** Writes `chunk` now and every `intervalMs` while the connection is open, for at most `maxMs`; resolves with the bytes written. */
  flood (chunk: Buffer, intervalMs: number, maxMs: number): Promise<number> {
    return new Promise(resolve => {
      let written = 0
      const write = (): void => {
        if (this.socket.destroyed || Date.now() - this.opened > maxMs) {
          clearInterval(timer)
          resolve(written)
          return
        }
        this.socket.write(chunk)
        written += chunk.length
      }
      const timer = setInterval(write, intervalMs)
      write()
    })
  }

  /** Sends a keep-alive GET and waits (at most 5 s) for its response. */
  async get (path: string): Promise<RawResponse | undefined> {
    this.response = undefined
    this.received = ''
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`)
    for (let waited = 0; this.response === undefined && !this.socket.destroyed && waited < 5000; waited += 10) await sleep(10)
    return this.response
  }
}

function head (method: string, path: string, headers: Record<string, string>): string {
  const lines = Object.entries({ host: 'localhost', ...headers }).map(([name, value]) => `${name}: ${value}`)
  return `${method} ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`
}

/** A listening app over `env`, closed after the test; its port. */
async function listening (env: Record<string, string>): Promise<{ port: number }> {
  // Shedding off: a busy machine must not turn these answers into 503s.
  const app = await buildApp(t, { MAX_EVENT_LOOP_DELAY_MS: '0', ...env }, { token: false })
  return { port: Number(new URL(await app.listen({ port: 0, host: '127.0.0.1' })).port) }
}

function assert408 (t: Test, client: Client): void {
  t.equal(client.response?.statusCode, 408, 'a 408')
  t.match(client.response?.headers['content-type'], /^application\/json/, 'in JSON')
  t.match(JSON.parse(client.response?.body ?? '{}'), { statusCode: 408, code: 'ERR_HTTP_REQUEST_TIMEOUT', error: 'Request Timeout' })
}

let port: number
t.before(async () => {
  port = (await listening({ REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS), KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_TIMEOUT_MS) })).port
})

t.test('headers dripped a byte at a time: a JSON 408 and the connection closed within the deadline', async t => {
  const client = new Client(port)
  await client.connected
  client.drip(head('POST', '/predict', { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': '2' }), 100, 6000)
  const closedAfter = await client.closedWithin(6000)
  t.ok(closedAfter !== undefined && closedAfter < REQUEST_TIMEOUT_MS + DEADLINE_SLACK_MS, `closed after ${closedAfter} ms`)
  assert408(t, client)
})

t.test('a connection that sends nothing is closed within the deadline', async t => {
  const client = new Client(port)
  const closedAfter = await client.closedWithin(6000)
  t.ok(closedAfter !== undefined && closedAfter < REQUEST_TIMEOUT_MS + DEADLINE_SLACK_MS, `closed after ${closedAfter} ms`)
  assert408(t, client)
})

t.test('a body dripped a byte at a time (valid token): a JSON 408 and the connection closed within the deadline', async t => {
  const client = new Client(port)
  await client.connected
  client.socket.write(head('POST', '/predict', { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': '1000' }))
  client.drip(`{"input_data": [${'1, '.repeat(300)}`, 100, 6000)
  const closedAfter = await client.closedWithin(6000)
  t.ok(closedAfter !== undefined && closedAfter < REQUEST_TIMEOUT_MS + DEADLINE_SLACK_MS, `closed after ${closedAfter} ms`)
  assert408(t, client)
})

// Each is answered before the body is read; the client keeps uploading 16 KiB every 20 ms.
const refusals: Array<[string, string, number]> = [
  ['no token', head('POST', '/predict', { 'content-type': 'application/json', 'content-length': String(100 * 1024 * 1024) }), 401],
  ['an unknown URL', head('POST', '/nope', { 'content-type': 'application/json', 'content-length': String(100 * 1024 * 1024) }), 404],
  ['an unknown URL, chunked', head('POST', '/v2/nope', { 'content-encoding': 'gzip', 'transfer-encoding': 'chunked' }), 404],
  ['a Content-Length over BODY_LIMIT', head('POST', '/predict', { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': String(100 * 1024 * 1024) }), 413]
]
for (const [what, request, statusCode] of refusals) {
  t.test(`${what}: a ${statusCode} with Connection: close, then the connection closes while the client is still sending`, async t => {
    const client = new Client(port)
    await client.connected
    client.socket.write(request)
    const chunk = Buffer.from(request.includes('chunked') ? `4000\r\n${'a'.repeat(0x4000)}\r\n` : 'a'.repeat(0x4000))
    const sent = client.flood(chunk, 20, 5000)
    await client.closedWithin(5000)
    t.equal(client.response?.statusCode, statusCode, `a ${statusCode}`)
    t.equal(client.response?.headers.connection, 'close', 'Connection: close')
    const afterAnswer = client.closedAt === undefined || client.respondedAt === undefined ? undefined : client.closedAt - client.respondedAt
    t.ok(afterAnswer !== undefined && afterAnswer < 1000, `closed ${afterAnswer} ms after the answer`)
    t.comment(`the client wrote ${await sent} bytes before the connection closed`)
  })
}

t.test('a request read in full keeps its connection, until it idles KEEP_ALIVE_TIMEOUT_MS', async t => {
  const client = new Client(port)
  await client.connected
  const first = await client.get('/health/live')
  t.equal(first?.statusCode, 200)
  t.equal(first?.headers.connection, 'keep-alive', 'kept alive')
  t.match(first?.headers['keep-alive'], /^timeout=1\b/, 'the client is told the idle timeout')
  const second = await client.get('/health/live')
  t.equal(second?.statusCode, 200, 'a second request on the same connection')
  const idleFrom = Date.now()
  const closedAfter = await client.closedWithin(5000)
  const idle = client.closedAt === undefined ? undefined : client.closedAt - idleFrom
  t.ok(closedAfter !== undefined, 'the server closed the idle connection')
  t.equal(client.received.split('HTTP/1.1 ').length - 1, 1, 'silently: nothing after the second answer (no 408 between requests)')
  // Node waits a second past the advertised timeout, so a client reusing the connection just in time is not cut off.
  t.ok(idle !== undefined && idle >= KEEP_ALIVE_TIMEOUT_MS - 100 && idle < KEEP_ALIVE_TIMEOUT_MS + 1000 + DEADLINE_SLACK_MS, `idle ${idle} ms`)
})

t.test('MAX_CONNECTIONS: past it, Node closes new connections at once, whoever opens them', async t => {
  const limited = await listening({ MAX_CONNECTIONS: '3', MAX_CONNECTIONS_PER_ADDRESS: '0' })
  const clients = Array.from({ length: 3 }, () => new Client(limited.port))
  for (const [i, client] of clients.entries()) t.equal((await client.get('/health/live'))?.statusCode, 200, `connection ${i + 1} is served`)
  const extra = new Client(limited.port)
  extra.socket.write(head('GET', '/health/live', {}))
  const closedAfter = await extra.closedWithin(2000)
  t.ok(closedAfter !== undefined && closedAfter < 1000, `the 4th is closed (after ${closedAfter} ms)`)
  t.equal(extra.response, undefined, 'without an answer')
  for (const client of clients) client.socket.destroy()
})

t.test('MAX_CONNECTIONS_PER_ADDRESS: the first N connections work, one more is closed at once', async t => {
  // TRUST_PROXY names other addresses: 127.0.0.1 is still limited.
  const limited = await listening({ MAX_CONNECTIONS_PER_ADDRESS: '4', TRUST_PROXY: '10.0.0.0/8, 2001:db8::1' })
  const clients = Array.from({ length: 4 }, () => new Client(limited.port))
  for (const [i, client] of clients.entries()) t.equal((await client.get('/health/live'))?.statusCode, 200, `connection ${i + 1} is served`)

  const extra = new Client(limited.port)
  extra.socket.write(head('GET', '/health/live', {}))
  const closedAfter = await extra.closedWithin(2000)
  t.ok(closedAfter !== undefined && closedAfter < 1000, `the 5th is closed (after ${closedAfter} ms)`)
  t.equal(extra.response, undefined, 'without an answer')
  for (const [i, client] of clients.entries()) t.equal((await client.get('/health/live'))?.statusCode, 200, `connection ${i + 1} still works`)

  // A connection that closes frees its place (the server sees the close a moment later).
  clients[0].socket.destroy()
  await clients[0].closed
  let replacement: RawResponse | undefined
  for (let attempt = 0; attempt < 20 && replacement === undefined; attempt++) {
    await sleep(50)
    const client = new Client(limited.port)
    replacement = await client.get('/health/live')
    client.socket.destroy()
  }
  t.equal(replacement?.statusCode, 200, 'a new connection is served once one closed')
  for (const client of clients) client.socket.destroy()
})

t.test('no per-address limit for trusted proxies (a list naming them, or TRUST_PROXY=true), nor with 0', async t => {
  const unlimited: Array<Record<string, string>> = [
    { MAX_CONNECTIONS_PER_ADDRESS: '2', TRUST_PROXY: '127.0.0.0/8' },
    { MAX_CONNECTIONS_PER_ADDRESS: '2', TRUST_PROXY: 'true' },
    { MAX_CONNECTIONS_PER_ADDRESS: '0' }
  ]
  for (const env of unlimited) {
    const { port } = await listening(env)
    const clients = Array.from({ length: 3 }, () => new Client(port))
    for (const [i, client] of clients.entries()) t.equal((await client.get('/health/live'))?.statusCode, 200, `${JSON.stringify(env)}: connection ${i + 1} of 3 is served`)
    for (const client of clients) client.socket.destroy()
  }
})
