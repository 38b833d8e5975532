// The statistics extension (GET /v2/models[/name[/versions/v]]/stats), counted
// as Triton counts them, over every protocol's inferences and the cache.

import t from 'tap'
import { buildApp, devToken } from '../../helpers/build-app'
import { cachedIrisRepository, freshRow } from '../../helpers/cached-repository'
import type { ModelStatisticsResponse } from '../../../lib/protocols/v2/wire'

type Stat = ModelStatisticsResponse['model_stats'][number]

t.test('every protocol\'s inferences, failures and cache hits, per version and batch size', async t => {
  const app = await buildApp(t, { MODEL_REPOSITORY: cachedIrisRepository(t) })
  const stats = async (url = '/v2/models/iris/stats'): Promise<Stat[]> => {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 200, `GET ${url}`)
    return res.json<ModelStatisticsResponse>().model_stats
  }
  t.ok((await app.inject({ method: 'GET', url: '/v2' })).json<{ extensions: string[] }>().extensions.includes('statistics'), 'listed in the server metadata')
  const [before] = await stats()
  t.match(before, { name: 'iris', version: '1', last_inference: 0, inference_count: 0, execution_count: 0, batch_stats: [] })

  const row = freshRow()
  const answers = await Promise.all([
    app.inject({ method: 'POST', url: '/predict', payload: { input_data: [freshRow(), freshRow(), freshRow()] } }),
    app.inject({ method: 'POST', url: '/v1/models/iris:predict', payload: { instances: [freshRow(), freshRow()] } }),
    app.inject({ method: 'POST', url: '/v2/models/iris/infer', payload: { inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: row }] } }),
    ...Array.from({ length: 8 }, () => app.inject({ method: 'POST', url: '/predict', payload: { input_data: freshRow() } }))
  ])
  t.strictSame(answers.map(res => res.statusCode), Array(11).fill(200))
  t.equal((await app.inject({ method: 'POST', url: '/predict', payload: { input_data: [1, 2] } })).statusCode, 400)
  t.equal((await app.inject({ method: 'POST', url: '/predict', payload: { input_data: row } })).statusCode, 200, 'the row /v2 asked for: a cache hit (the protocols share entries)')

  const [after] = await stats()
  const { inference_stats: inference } = after
  t.equal(after.inference_count, 14, 'rows inferred: 3 + 2 + 1 + 8, the hit not included')
  t.equal(inference.success.count, 12, 'eleven answered by runs and one by the cache')
  t.equal(inference.fail.count, 1, 'the request of two values')
  t.equal(inference.cache_miss.count, 11)
  t.equal(inference.cache_hit.count, 1)
  t.equal(inference.queue.count, 12, 'hits are queue entries too')
  t.ok(after.execution_count >= 1 && after.execution_count <= 11, `${after.execution_count} runs for 11 requests`)
  for (const stage of ['compute_input', 'compute_infer', 'compute_output'] as const) {
    t.equal(inference[stage].count, 11, `${stage}: each request answered by a run`)
    t.equal(after.batch_stats.reduce((sum, batch) => sum + batch[stage].count, 0), after.execution_count, `${stage}: each run, by batch size`)
  }
  t.equal(after.batch_stats.reduce((sum, batch) => sum + batch.batch_size * batch.compute_infer.count, 0), 14, 'the batch sizes add up to the rows')
  t.ok(inference.success.ns > inference.compute_infer.ns / 11, 'durations in ns')
  t.ok(after.last_inference >= Date.now() - 60_000 && after.last_inference <= Date.now(), 'the last inference, ms since the epoch')

  const all = await stats('/v2/models/stats')
  t.strictSame(all.map(stat => `${stat.name}/${stat.version}`), ['iris/1', 'iris-petal-width/1'], 'every served version, in order')
  t.equal(all[1].inference_count, 0)
  t.strictSame(await stats('/v2/models/iris/versions/1/stats'), [after])
})

t.test('errors: an unknown model or version, no token', async t => {
  const app = await buildApp(t, {}, { token: false })
  const token = { authorization: `Bearer ${devToken()}` }
  const unknown = await app.inject({ method: 'GET', url: '/v2/models/nope/stats', headers: token })
  t.equal(unknown.statusCode, 404)
  t.match(unknown.json(), { error: /model 'nope' not found/ })
  t.equal((await app.inject({ method: 'GET', url: '/v2/models/iris/versions/7/stats', headers: token })).statusCode, 404)
  const anonymous = await app.inject({ method: 'GET', url: '/v2/models/stats' })
  t.equal(anonymous.statusCode, 401)
  t.type(anonymous.json().error, 'string', 'the protocol\'s {"error"}')
})
