// Loading a model never stalls the others: opening a session of a large
// graph takes seconds in its thread, and predictions meanwhile answer in
// their usual time while readiness stays 200 (inference-pool: a rolling load
// across workers, or with one worker a new thread opening every session
// beside it).

import t from 'tap'
import { cpSync } from 'node:fs'
import { join } from 'node:path'
import { buildApp, bundledRepository } from '../../helpers/build-app'
import { writeLargeGraph } from '../../helpers/large-graph'

// iris in the workers: the pool serves it while the large graph opens there,
// across the workers in turn (2), or beside the only one (1). As shipped
// (auto) iris runs inline, and the large graph, a small file, must still
// open in the workers (its node count says so).
for (const [threads, placement] of [['1', 'worker'], ['2', 'worker'], ['2', 'auto']]) {
  t.test(`INFERENCE_THREADS=${threads}, INFERENCE_PLACEMENT=${placement}: predictions during a load of seconds answer in their usual time, readiness stays 200`, async t => {
    const repository = t.testdir()
    cpSync(join(bundledRepository, 'iris'), join(repository, 'iris'), { recursive: true })
    const app = await buildApp(t, { MODEL_REPOSITORY: repository, DEFAULT_MODEL: 'iris', INFERENCE_THREADS: threads, INFERENCE_PLACEMENT: placement })
    const predict = async (): Promise<{ status: number, ms: number }> => {
      const started = performance.now()
      const res = await app.inject({ method: 'POST', url: '/predict', payload: { input_data: [5.1, 3.5, 1.4, 0.2] } })
      return { status: res.statusCode, ms: performance.now() - started }
    }
    const usual = []
    for (let i = 0; i < 20; i++) usual.push((await predict()).ms)

    writeLargeGraph(repository, 30_000)
    const started = performance.now()
    const state = { loaded: false }
    const loading = app.inject({ method: 'POST', url: '/v2/repository/models/large-graph/load' }).then(res => { state.loaded = true; return res })
    const during: Array<{ status: number, ms: number }> = []
    const readiness = new Set<number>()
    while (!state.loaded) {
      const answer = await predict()
      if (answer.ms > 100) t.comment(`slow at ${Math.round(performance.now() - started)} ms: ${Math.round(answer.ms)} ms`)
      during.push(answer)
      readiness.add((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode)
      await new Promise(resolve => setTimeout(resolve, 5))
    }
    const loadMs = performance.now() - started
    t.equal((await loading).statusCode, 200, 'the large graph loaded')
    t.ok(loadMs > 800, `the load took ${Math.round(loadMs)} ms`)
    const slowest = Math.max(...during.map(answer => answer.ms))
    t.strictSame([...new Set(during.map(answer => answer.status))], [200], `${during.length} predictions during the load, all answered`)
    t.ok(slowest < 300, `the slowest took ${slowest.toFixed(1)} ms (usually ${Math.max(...usual).toFixed(1)} ms at most), not the load's ${Math.round(loadMs)} ms`)
    t.strictSame([...readiness], [200], 'readiness stayed 200')
    t.equal(app.models.placements().find(placed => placed.model === 'large-graph')?.placement, 'worker', 'the large graph was opened in the workers')
    t.equal((await app.inject({ method: 'POST', url: '/v2/models/large-graph/infer', payload: { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, -2, 3, -4] }] } })).statusCode, 200, 'and the new model serves')
  })
}
