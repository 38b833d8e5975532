// WORKERS=2: one scrape answers for the whole process group (lib/metrics/cluster-metrics.ts),
// whichever process the connection lands on; so do the statistics (lib/cluster/gather.ts).

import { request } from 'node:http'
import t from 'tap'
import { bundledRepository } from './helpers/build-app'
import { parse, valueOf } from './helpers/metrics'
import { startServer, waitReady } from './helpers/server-process'
import { setosa, sign } from './helpers/tokens'

/** A request on a fresh connection (no keep-alive), so the cluster spreads them over its processes. */
async function send (url: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const length = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }
    const req = request(url, { method: body === undefined ? 'GET' : 'POST', agent: false, headers: { connection: 'close', ...headers, ...length } }, res => {
      let text = ''
      res.on('data', chunk => { text += String(chunk) })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

const get = async (url: string, headers: Record<string, string> = {}): Promise<{ status: number, body: string }> => await send(url, headers)

t.test('with WORKERS=2 every scrape counts the requests of both processes', async t => {
  const server = await startServer(t, { WORKERS: '2', MODEL_REPOSITORY: bundledRepository, INFERENCE_THREADS: '1' })
  await waitReady(server.url)
  // Both processes must be up before the count starts: a liveness probe on each.
  const probes = 40
  for (let i = 0; i < probes; i++) t.equal((await get(`${server.url}/health/live`)).status, 200)

  for (let scrape = 0; scrape < 6; scrape++) {
    const res = await get(`${server.url}/metrics`)
    t.equal(res.status, 200)
    const samples = parse(res.body)
    const live = valueOf(samples, 'onnx_serve_http_request_duration_seconds_count', { method: 'GET', route: '/health/live', status_code: '200' })
    t.ok(live >= probes, `scrape ${scrape + 1}: ${live} liveness probes counted, of ${probes} sent to two processes`)
    t.equal(valueOf(samples, 'onnx_serve_model_state', { model: 'iris', state: 'READY' }), 1, 'a state gauge is not summed over the processes')
  }
})

t.test('with WORKERS=2 the statistics extension counts the inferences of both processes', async t => {
  const secret = 'cluster-statistics-test-secret-'.padEnd(40, 'x')
  const server = await startServer(t, { WORKERS: '2', JWT_SECRET: secret, MODEL_REPOSITORY: bundledRepository, INFERENCE_THREADS: '1' })
  await waitReady(server.url)
  for (let i = 0; i < 40; i++) t.equal((await get(`${server.url}/health/live`)).status, 200)
  const authorization = `Bearer ${sign(secret, 'HS256', { sub: 'stats', scope: 'predict' })}`
  const predictions = 30
  for (let i = 0; i < predictions; i++) {
    const res = await send(`${server.url}/predict`, { authorization }, JSON.stringify({ input_data: setosa }))
    t.equal(res.status, 200, `prediction ${i + 1}: ${res.body.slice(0, 300)}`)
  }
  await new Promise(resolve => setTimeout(resolve, 1500))
  const served = new Set(server.logs.filter(line => (line.req as { url?: string } | undefined)?.url === '/predict').map(line => line.pid))
  t.equal(served.size, 2, 'both processes served predictions')
  for (let ask = 0; ask < 4; ask++) {
    const res = await get(`${server.url}/v2/models/iris/stats`, { authorization })
    t.equal(res.status, 200)
    const [stats] = (JSON.parse(res.body) as { model_stats: Array<{ inference_count: number, inference_stats: { success: { count: number } } }> }).model_stats
    t.equal(stats.inference_count, predictions, `ask ${ask + 1}: every process's rows`)
    t.equal(stats.inference_stats.success.count, predictions)
  }
})
