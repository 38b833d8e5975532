// Counters and histograms for the per-request path, kept as plain numbers
// per series and turned into prom-client's shape only when scraped.
// prom-client's own observe() validates and sorts the labels, hashes them
// into a string and allocates a closure on every call: 0.7 µs for one
// histogram and one counter, against 0.02 µs here, four to five times per
// prediction. The series are found by their label values (a Map lookup each);
// the registry renders, and the cluster aggregator sums, them as it does
// prom-client's own metrics, through the metric interface its registry reads.

import type { Metric, Registry } from 'prom-client'

type Labels<L extends string> = Record<L, string | number>

/** One line of a scrape, as prom-client's registry reads it. */
interface SeriesValue {
  labels: Record<string, string | number>
  value: number
  metricName: string
}

/**
 * What the registry renders and the cluster aggregator sums (the shape of
 * prom-client's get(); its typings say `type` is an enum, the registry
 * writes the string).
 */
interface Scraped {
  name: string
  help: string
  type: 'counter' | 'histogram'
  aggregator: 'sum'
  values: SeriesValue[]
}

interface KeyedOptions<L extends string> {
  name: string
  help: string
  labelNames: readonly L[]
  registers: Registry[]
}

/** A level of the series tree: one label's values, in labelNames' order, the last level holding the series. */
type SeriesTree<S> = Map<string, SeriesTree<S> | S>

abstract class KeyedMetric<L extends string, S> {
  readonly name: string
  readonly help: string
  abstract readonly type: Scraped['type']
  readonly aggregator = 'sum' as const
  protected readonly series: Array<{ labels: Labels<L>, values: S }> = []
  // Found label by label: a Map lookup per label value (strings the callers
  // mostly hold already, their hashes cached), where one key joined from
  // them would be a new string to build and hash on every call.
  private tree: SeriesTree<S> = new Map()

  constructor (private readonly options: KeyedOptions<L>) {
    this.name = options.name
    this.help = options.help
    for (const registry of options.registers) registry.registerMetric(this as unknown as Metric)
  }

  /** The series of these labels, made at its first use. */
  protected at (labels: Labels<L>): S {
    const names = this.options.labelNames
    let level = this.tree
    for (let i = 0; i < names.length - 1; i++) {
      const value = String(labels[names[i]])
      let next = level.get(value) as SeriesTree<S> | undefined
      if (next === undefined) level.set(value, next = new Map())
      level = next
    }
    const last = String(labels[names[names.length - 1]])
    let found = level.get(last) as S | undefined
    if (found === undefined) {
      found = this.create()
      level.set(last, found)
      this.series.push({ labels: { ...labels }, values: found })
    }
    return found
  }

  protected abstract create (): S
  protected abstract render (labels: Labels<L>, values: S): SeriesValue[]

  /** What the registry renders and the cluster aggregator sums. */
  async get (): Promise<Scraped> {
    const values: SeriesValue[] = []
    for (const { labels, values: series } of this.series) values.push(...this.render(labels, series))
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  reset (): void {
    this.series.length = 0
    this.tree = new Map()
  }
}

export class KeyedCounter<L extends string> extends KeyedMetric<L, { value: number }> {
  readonly type = 'counter'

  inc (labels: Labels<L>, by = 1): void {
    this.at(labels).value += by
  }

  protected create (): { value: number } {
    return { value: 0 }
  }

  protected render (labels: Labels<L>, series: { value: number }): SeriesValue[] {
    return [{ labels, value: series.value, metricName: this.name }]
  }
}

interface HistogramSeries {
  /** Observations per bucket, not cumulative; the last is +Inf. */
  counts: Float64Array
  sum: number
  count: number
}

export class KeyedHistogram<L extends string> extends KeyedMetric<L, HistogramSeries> {
  readonly type = 'histogram'
  private readonly buckets: readonly number[]

  constructor (options: KeyedOptions<L> & { buckets: readonly number[] }) {
    super(options)
    this.buckets = [...options.buckets].sort((a, b) => a - b)
  }

  observe (labels: Labels<L>, value: number): void {
    const series = this.at(labels)
    const buckets = this.buckets
    let bucket = 0
    while (bucket < buckets.length && value > buckets[bucket]) bucket++
    series.counts[bucket]++
    series.sum += value
    series.count++
  }

  protected create (): HistogramSeries {
    return { counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 }
  }

  protected render (labels: Labels<L>, series: HistogramSeries): SeriesValue[] {
    const values: SeriesValue[] = []
    let cumulative = 0
    for (let bucket = 0; bucket <= this.buckets.length; bucket++) {
      cumulative += series.counts[bucket]
      const le = bucket < this.buckets.length ? this.buckets[bucket] : '+Inf'
      values.push({ labels: { le, ...labels }, value: cumulative, metricName: `${this.name}_bucket` })
    }
    values.push({ labels, value: series.sum, metricName: `${this.name}_sum` })
    values.push({ labels, value: series.count, metricName: `${this.name}_count` })
    return values
  }
}
