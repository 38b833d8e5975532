import t from 'tap'
import type autocannon from 'autocannon'
import { uniqueRows } from '../../bench/lib/scenarios'
import { cacheLookups } from '../../bench/lib/stats'

t.test('uniqueRows: every request a valid body with a row no other request sent', async t => {
  const request = uniqueRows(['{"input_data":[-0.5,2]}', '{"input_data":[1e-3,4]}'], '/predict')
  t.equal(request.path, '/predict')
  const setup = request.setupRequest as (request: autocannon.Request) => autocannon.Request
  const bodies = Array.from({ length: 1000 }, () => setup({ method: 'POST', path: '/predict' }).body as string)
  t.equal(new Set(bodies).size, 1000, 'no body twice')
  const rows = bodies.map(body => (JSON.parse(body) as { input_data: number[] }).input_data)
  t.strictSame(rows[0], [1e-7, 2], 'the first number replaced, the rest kept')
  t.strictSame(rows[1], [2e-7, 4], 'the pool cycled')
  t.throws(() => uniqueRows(['{"a":"b"}'], '/'), /without a number/)
})

t.test('cacheLookups: the hit and miss counters of a /metrics text', async t => {
  const metrics = [
    '# TYPE onnx_serve_cache_lookups_total counter',
    'onnx_serve_cache_lookups_total{model="mlp-small",result="hit"} 12',
    'onnx_serve_cache_lookups_total{model="mlp-small",result="miss"} 3'
  ].join('\n')
  t.strictSame(cacheLookups(metrics), { hit: 12, miss: 3 })
  t.strictSame(cacheLookups(''), { hit: 0, miss: 0 }, 'before any lookup')
})
