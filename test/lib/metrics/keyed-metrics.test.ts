// The keyed metrics against prom-client's own Histogram and Counter: the
// same observations scrape to the same lines, alone and summed across
// registries as the cluster's aggregator does.

import t from 'tap'
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client'
import { KeyedCounter, KeyedHistogram } from '../../../lib/metrics/keyed-metrics'

const BUCKETS = [0.001, 0.01, 0.1, 1]
const OBSERVATIONS: Array<[{ model: string, version: string }, number]> = [
  [{ model: 'a', version: '1' }, 0.0005],
  [{ model: 'a', version: '1' }, 0.001], // on a bound: counted in it (le)
  [{ model: 'a', version: '1' }, 0.05],
  [{ model: 'b', version: '2' }, 7], // above every bound: +Inf only
  [{ model: 'b', version: '2' }, 0]
]

function both (): { reference: Registry, keyed: Registry } {
  const reference = new Registry()
  const keyed = new Registry()
  const labelNames = ['model', 'version'] as const
  const histogram = new Histogram({ name: 'h_seconds', help: 'h', labelNames, buckets: BUCKETS, registers: [reference] })
  const counter = new Counter({ name: 'c_total', help: 'c', labelNames, registers: [reference] })
  const keyedHistogram = new KeyedHistogram({ name: 'h_seconds', help: 'h', labelNames, buckets: BUCKETS, registers: [keyed] })
  const keyedCounter = new KeyedCounter({ name: 'c_total', help: 'c', labelNames, registers: [keyed] })
  for (const [labels, value] of OBSERVATIONS) {
    histogram.observe(labels, value)
    keyedHistogram.observe(labels, value)
    counter.inc(labels, 2)
    keyedCounter.inc(labels, 2)
  }
  return { reference, keyed }
}

const lines = (text: string): string[] => text.split('\n').filter(line => line !== '').sort()

t.test('a scrape has the same lines as prom-client\'s metrics', async t => {
  const { reference, keyed } = both()
  const expected = lines(await reference.metrics())
  t.ok(expected.includes('h_seconds_bucket{le="0.001",model="a",version="1"} 2'), 'a value on a bound is within it')
  t.same(lines(await keyed.metrics()), expected)
})

t.test('summed across registries as the cluster aggregator sums them', async t => {
  const first = both()
  const second = both()
  const reference = AggregatorRegistry.aggregate([await first.reference.getMetricsAsJSON(), await second.reference.getMetricsAsJSON()])
  const keyed = AggregatorRegistry.aggregate([await first.keyed.getMetricsAsJSON(), await second.keyed.getMetricsAsJSON()])
  t.same(lines(await keyed.metrics()), lines(await reference.metrics()))
})

t.test('reset forgets every series', async t => {
  const { keyed } = both()
  keyed.resetMetrics()
  t.same(lines(await keyed.metrics()), ['# HELP c_total c', '# HELP h_seconds h', '# TYPE c_total counter', '# TYPE h_seconds histogram'])
})
