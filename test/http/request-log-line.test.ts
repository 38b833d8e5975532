// The pre-built info line (http/request-log-line) against the line pino
// writes through Fastify's serializers for the same request, over real
// sockets (so the remote port is on both): the same fields and values.

import { request as httpRequest } from 'node:http'
import { Writable } from 'node:stream'
import t from 'tap'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import { RequestLogController } from '../../http/request-log-controller'
import { requestId } from '../../http/server-options'
import '../../plugins/request-log'

async function serverLogging (prebuilt: boolean, lines: string[]): Promise<FastifyInstance> {
  const stream = new Writable({
    write (chunk: Buffer | string, _encoding, callback) {
      // Only the request lines: listen() logs its address too.
      if (String(chunk).includes('"msg":"request completed"')) lines.push(String(chunk))
      callback()
    }
  })
  const app = Fastify({ logger: { level: 'info', stream }, genReqId: requestId, logController: new RequestLogController(prebuilt) })
  app.decorateRequest('facts', null as unknown as FastifyRequest['facts'])
  app.decorateRequest('failure', null)
  app.addHook('onRequest', async request => { request.facts = {} })
  app.post('/infer', async request => {
    request.facts.inference = { model: 'm"odel\u2028', version: 3, rows: 2, inferenceMs: 0.125, cache: 'MISS' }
    return { ok: true }
  })
  app.get('/plain', async () => ({ ok: true }))
  app.get('/missing', async (_request, reply) => await reply.code(404).send({ message: 'no' }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => await app.close())
  return app
}

interface Sent { id: string, method: string, path: string, headers?: Record<string, string>, body?: string }

/** node:http rather than fetch: fetch may not set Host. */
async function send (app: FastifyInstance, sent: Sent): Promise<void> {
  const { port } = app.server.address() as { port: number }
  await new Promise<void>((resolve, reject) => {
    const req = httpRequest({ port, host: '127.0.0.1', method: sent.method, path: sent.path, headers: { ...sent.headers, 'x-request-id': sent.id, host: 'example.test:8080' } }, res => {
      res.resume()
      res.on('end', resolve)
    })
    req.on('error', reject)
    req.end(sent.body)
  })
}

const REQUESTS: Sent[] = [
  { id: 'infer', method: 'POST', path: '/infer', headers: { 'content-type': 'application/json' }, body: '{}' },
  { id: 'plain', method: 'GET', path: '/plain?q="quoted"&u=%E2%80%A8', headers: { 'accept-version': '1.x' } },
  { id: 'missing', method: 'GET', path: '/missing' },
  { id: 'unrouted', method: 'GET', path: '/nowhere/%C3%A9\\' }
]

t.test('the pre-built line says what pino says', async t => {
  const prebuiltLines: string[] = []
  const pinoLines: string[] = []
  const prebuilt = await serverLogging(true, prebuiltLines)
  const reference = await serverLogging(false, pinoLines)
  for (const sent of REQUESTS) {
    for (const app of [prebuilt, reference]) await send(app, sent)
  }
  t.equal(prebuiltLines.length, REQUESTS.length, 'one line per request')
  t.equal(pinoLines.length, REQUESTS.length)
  for (let i = 0; i < REQUESTS.length; i++) {
    t.ok(prebuiltLines[i].endsWith('}\n'), 'one line, newline-terminated')
    const mine = JSON.parse(prebuiltLines[i]) as Record<string, unknown> & { req: { remotePort: number } }
    const theirs = JSON.parse(pinoLines[i]) as Record<string, unknown> & { req: { remotePort: number } }
    for (const line of [mine, theirs]) {
      t.type(line.time, 'number')
      t.type(line.responseTime, 'number')
      t.type(line.req.remotePort, 'number')
    }
    const comparable = (line: typeof mine): unknown => ({ ...line, time: 0, responseTime: 0, req: { ...line.req, remotePort: 0 } })
    t.same(comparable(mine), comparable(theirs), `${REQUESTS[i].id}: the same fields and values`)
    t.same(Object.keys(mine), Object.keys(theirs), `${REQUESTS[i].id}: in the same order`)
  }
})

t.test('nothing is written with info off', async t => {
  const lines: string[] = []
  const app = await serverLogging(true, lines)
  app.log.level = 'warn'
  await send(app, REQUESTS[1])
  t.same(lines, [])
})
