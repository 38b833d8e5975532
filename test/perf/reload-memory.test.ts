import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../helpers/build-app'

// onnxruntime sessions created and released over and over have been
// reported to leak upstream. Sessions live in the inference worker threads of
// this same process, so the process's resident set covers them.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const MB = 1024 * 1024
const WARM_UP_CYCLES = 5
const MEASURED_CYCLES = 20
const MAX_GROWTH_MB = 20

async function settle (): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return process.memoryUsage().rss
}

/** Unloads and loads iris through the API, then predicts once on the new sessions. */
async function cycle (t: tap.Test, app: FastifyInstance): Promise<void> {
  for (const op of ['unload', 'load']) {
    const res = await app.inject({ method: 'POST', url: `/v2/repository/models/iris/${op}` })
    if (res.statusCode !== 200) t.fail(`${op}: ${res.statusCode} ${res.body}`)
  }
  const res = await app.inject({ method: 'POST', url: '/v1/models/iris/predict', payload: { instances: [[5.1, 3.5, 1.4, 0.2]] } })
  if (res.statusCode !== 200) t.fail(`predict after the load: ${res.statusCode} ${res.body}`)
}

t.test(`resident memory stays flat across ${MEASURED_CYCLES} unload/load cycles of one model`, async t => {
  const app = await buildApp(t, { INFERENCE_THREADS: '1' })
  const firstKey = app.models.registry.get('iris').key
  for (let i = 0; i < WARM_UP_CYCLES; i++) await cycle(t, app)
  const before = await settle()
  const trace: number[] = []
  for (let i = 0; i < MEASURED_CYCLES; i++) {
    await cycle(t, app)
    if (i % 5 === 4) trace.push(Math.round(process.memoryUsage().rss / MB))
  }
  const after = await settle()
  const growth = (after - before) / MB
  t.comment(`rss before ${(before / MB).toFixed(1)} MB, after ${(after / MB).toFixed(1)} MB, growth ${growth.toFixed(1)} MB ` +
    `over ${MEASURED_CYCLES} cycles (every 5 cycles: ${trace.join(', ')} MB)`)
  t.not(app.models.registry.get('iris').key, firstKey, 'the cycles did replace the sessions')
  t.equal(app.models.registry.entry('iris').state, 'READY')
  t.ok(growth < MAX_GROWTH_MB, `rss grew ${growth.toFixed(1)} MB, under ${MAX_GROWTH_MB} MB`)
})
