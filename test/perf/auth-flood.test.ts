// A flood of distinct tokens that fail verification, each with a large
// claim, from one address: what it may cost is bounded. Found by an attack
// on an earlier version: every refused token was remembered by the
// verifier's cache, and a 160 MB heap ran out within 15 s.

import t from 'tap'
import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { bundledRepository } from '../helpers/build-app'
import { startServer, waitReady } from '../helpers/server-process'

const base64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A distinct HS256 token signed with a guessed key, carrying `padding` bytes of claims. */
function badToken (n: number, padding: number): string {
  const input = `${base64url({ alg: 'HS256', typ: 'JWT' })}.${base64url({ sub: `user-${n}`, scope: 'predict', exp: Math.floor(Date.now() / 1000) + 3600, pad: 'x'.repeat(padding) })}`
  return `${input}.${createHmac('sha256', `guess-${n}`).update(input).digest('base64url')}`
}

/** NaN once the process is gone. */
function residentMegabytes (pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match === null ? NaN : Number(match[1]) / 1024
  } catch {
    return NaN
  }
}

/** Sends `total` POST /predict with distinct bad tokens over `connections` keep-alive sockets; counts statuses. */
async function flood (url: string, total: number, connections: number, deadline: number): Promise<Map<number, number>> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections })
  const statuses = new Map<number, number>()
  let sent = 0
  const body = JSON.stringify({ input_data: [5.1, 3.5, 1.4, 0.2] })
  async function loop (): Promise<void> {
    while (sent < total && Date.now() < deadline) {
      const n = sent++
      const status = await new Promise<number>(resolve => {
        const req = request(`${url}/predict`, {
          method: 'POST',
          agent,
          headers: { authorization: `Bearer ${badToken(n, 6000)}`, 'content-type': 'application/json' }
        }, res => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)) })
        req.on('error', () => resolve(0))
        req.end(body)
      })
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
    }
  }
  await Promise.all(Array.from({ length: connections }, loop))
  agent.destroy()
  return statuses
}

t.test('distinct refused tokens leave memory flat under a 160 MB heap', async t => {
  // A limit no flood reaches: every token is verified and refused (401).
  const server = await startServer(t, { MODEL_REPOSITORY: bundledRepository, INFERENCE_THREADS: '1', AUTH_FAILURE_LIMIT: '1000000', NODE_OPTIONS: '--max-old-space-size=160' })
  await waitReady(server.url)
  const pid = server.child.pid ?? 0
  await flood(server.url, 2000, 8, Date.now() + 10_000)
  const warm = residentMegabytes(pid)
  const statuses = await flood(server.url, 12_000, 8, Date.now() + 30_000)
  const after = residentMegabytes(pid)
  t.equal(server.child.exitCode, null, 'the server is still running')
  t.ok((statuses.get(401) ?? 0) >= 5_000, `refused with 401: ${JSON.stringify([...statuses])}`)
  t.equal(statuses.get(0), undefined, 'no connection failed')
  t.ok(after - warm < 40, `resident memory ${warm.toFixed(0)} MB → ${after.toFixed(0)} MB`)
  const res = await fetch(`${server.url}/health/live`)
  t.equal(res.status, 200, 'alive afterwards')
})
