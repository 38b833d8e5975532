// GET /metrics (routes/metrics.ts, plugins/metrics.ts): Prometheus text,
// request durations labelled by route pattern, never by raw URL.

import { randomUUID } from 'node:crypto'
import t from 'tap'
import { buildApp } from '../helpers/build-app'
import { parse, scrape, type Sample } from '../helpers/metrics'

const DURATION = 'onnx_serve_http_request_duration_seconds'

/** The request-duration series, as "METHOD route status" → count. */
function durationCounts (samples: Sample[]): Map<string, number> {
  return new Map(samples
    .filter(sample => sample.name === `${DURATION}_count`)
    .map(sample => [`${sample.labels.method} ${sample.labels.route} ${sample.labels.status_code}`, sample.value]))
}

t.test('GET /metrics is Prometheus text, public, with the default process metrics', async t => {
  const app = await buildApp(t, {}, { token: false })
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(res.statusCode, 200, 'public: no token needed')
  t.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8')
  t.match(res.body, `# HELP ${DURATION} `)
  t.match(res.body, `# TYPE ${DURATION} histogram`)
  t.match(res.body, '# TYPE onnx_serve_rate_limit_store_unavailable_total counter')
  const samples = parse(res.body)
  t.ok(samples.some(sample => sample.name === 'onnx_serve_process_cpu_user_seconds_total'), 'process metrics, with the onnx_serve_ prefix')
  t.ok(samples.some(sample => sample.name === 'onnx_serve_nodejs_eventloop_lag_seconds'), 'event-loop lag')
  t.notOk(samples.some(sample => sample.name.startsWith('process_') || sample.name.startsWith('nodejs_')), 'nothing unprefixed')
  t.notOk(samples.some(sample => sample.name.includes('version_info')), 'no Node version for anonymous scrapers to match against CVEs')
  const unavailable = samples.find(sample => sample.name === 'onnx_serve_rate_limit_store_unavailable_total')
  t.equal(unavailable?.value, 0, 'no Redis configured: nothing let through unchecked')
})

t.test('request durations are labelled with the route pattern, never the raw URL', async t => {
  const app = await buildApp(t)
  for (let i = 0; i < 3; i++) {
    const res = await app.inject({ method: 'POST', url: '/v1/models/iris/predict', payload: { instances: [[5.1, 3.5, 1.4, 0.2]] } })
    t.equal(res.statusCode, 200)
  }
  t.equal((await app.inject({ method: 'POST', url: '/v1/models/iris-petal-width/predict?verbose=1', payload: { instances: [[5.1, 3.5, 1.4]] } })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/v1/models/no-such-model/predict', payload: { instances: [[1]] } })).statusCode, 404)
  t.equal((await app.inject({ method: 'POST', url: '/predict', payload: { input_data: 'x' } })).statusCode, 400)
  t.equal((await app.inject({ method: 'GET', url: '/v1/models/iris' })).statusCode, 200)

  const samples = await scrape(app)
  const counts = durationCounts(samples)
  t.equal(counts.get('POST /v1/models/:name/predict 200'), 4, 'both models\' predictions under one pattern, query string ignored')
  t.equal(counts.get('POST /v1/models/:name/predict 404'), 1, 'an unknown model: the pattern with its status')
  t.equal(counts.get('POST /predict 400'), 1)
  t.equal(counts.get('GET /v1/models/:name 200'), 1)
  const routes = samples.filter(sample => sample.name.startsWith(DURATION)).map(sample => sample.labels.route)
  for (const raw of ['/v1/models/iris/predict', '/v1/models/iris-petal-width/predict', '/v1/models/no-such-model/predict', '/v1/models/iris']) {
    t.notOk(routes.includes(raw), `no series for the raw URL ${raw}`)
  }
  t.notOk(routes.some(route => route.includes('?')), 'no query strings in labels')

  // A histogram: cumulative buckets up to +Inf, which equals the count, and a sum of seconds.
  const labels = { method: 'POST', route: '/v1/models/:name/predict', status_code: '200' }
  const same = (sample: Sample) => Object.entries(labels).every(([key, value]) => sample.labels[key] === value)
  const buckets = samples.filter(sample => sample.name === `${DURATION}_bucket` && same(sample))
  t.ok(buckets.length > 5, `${buckets.length} buckets`)
  t.equal(buckets.at(-1)?.labels.le, '+Inf')
  t.equal(buckets.at(-1)?.value, 4, 'the +Inf bucket holds every request')
  t.ok(buckets.every((bucket, i) => i === 0 || bucket.value >= buckets[i - 1].value), 'buckets are cumulative')
  const sum = samples.find(sample => sample.name === `${DURATION}_sum` && same(sample))
  t.ok(sum !== undefined && sum.value > 0 && sum.value < 30, `the sum is in seconds (${sum?.value})`)

  // The scrape itself is recorded under its route.
  t.equal(durationCounts(await scrape(app)).get('GET /metrics 200'), 1)
})

t.test('unknown URLs do not create new series', async t => {
  const app = await buildApp(t)
  const probe = (i: number) => app.inject({ method: 'GET', url: `/probe-${randomUUID()}/${i}?q=${i}` })
  t.equal((await probe(0)).statusCode, 404)
  const before = durationCounts(await scrape(app))
  t.equal(before.get('GET unmatched 404'), 1, 'unknown URLs share one series')
  for (let i = 1; i <= 50; i++) await probe(i)
  for (const method of ['POST', 'DELETE'] as const) await app.inject({ method, url: `/probe-${randomUUID()}` })
  const after = durationCounts(await scrape(app))
  t.equal(after.get('GET unmatched 404'), 51, 'all 51 probes counted in it')
  const added = [...after.keys()].filter(key => !before.has(key))
  t.strictSame(added.sort(), ['DELETE unmatched 404', 'GET /metrics 200', 'POST unmatched 404'], 'only a series per method, none per URL')
  const series = (await app.inject({ method: 'GET', url: '/metrics' })).body
  t.notMatch(series, /probe-/, 'no probed URL anywhere in the output')
})

t.test('each app has its own registry', async t => {
  const a = await buildApp(t)
  const b = await buildApp(t)
  t.equal((await a.inject({ method: 'GET', url: '/v1/models' })).statusCode, 200)
  t.equal(durationCounts(await scrape(a)).get('GET /v1/models 200'), 1)
  t.equal(durationCounts(await scrape(b)).get('GET /v1/models 200'), undefined, 'b did not see a\'s request')
})

t.test('scrapes are limited per address: a pipelined burst is refused cheaply', async t => {
  const app = await buildApp(t)
  const scrape = (remoteAddress: string) => app.inject({ method: 'GET', url: '/metrics', remoteAddress })
  const statuses = []
  for (let i = 0; i < 121; i++) statuses.push((await scrape('203.0.113.5')).statusCode)
  t.equal(statuses.filter(status => status === 200).length, 120, '120 scrapes a minute from one address')
  t.equal(statuses[120], 429, 'the 121st is refused')
  t.equal((await scrape('203.0.113.6')).statusCode, 200, 'another address still scrapes')
})
