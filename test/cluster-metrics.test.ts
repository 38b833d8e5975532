// WORKERS=2: one scrape answers for the whole process group (lib/metrics/cluster-metrics.ts),
// whichever process the connection lands on.

import { request } from 'node:http'
import t from 'tap'
import { bundledRepository } from './helpers/build-app'
import { parse, valueOf } from './helpers/metrics'
import { startServer, waitReady } from './helpers/server-process'

/** A GET on a fresh connection (no keep-alive), so the cluster spreads them over its processes. */
async function get (url: string): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { connection: 'close' } }, res => {
      let body = ''
      res.on('data', chunk => { body += String(chunk) })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

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
