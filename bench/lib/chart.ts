// The chart of a run: req/s and p99 against connections for the small model,
// onnx-serve beside its ceilings. A Vega-Lite spec compiled by vega-lite and
// rendered headless by vega's View.toSVG (no browser, no canvas package).

import * as vega from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'
import type { BenchResults } from './results'
import { TARGET_NAMES, type Target } from './scenarios'

export interface ChartPoint {
  series: string
  /** null for the in-process ceiling, which has no connections: drawn as a horizontal rule. */
  connections: number | null
  rps: number
  p99: number
}

const SERIES_ORDER: Target[] = ['onnx-serve', 'naive', 'echo', 'in-process']
const COLORS: Record<Target, string> = { 'onnx-serve': '#d62728', naive: '#1f77b4', echo: '#2ca02c', 'in-process': '#7f7f7f' }

/**
 * The load generator the chart draws: autocannon when the run used it, then
 * wrk, then grpc (one generator per chart, or each connection count would
 * get two points a series; under grpc only onnx-serve's transport changes).
 */
export function chartGenerator (results: BenchResults): string | undefined {
  const small = new Set(results.scenarios.filter(scenario => scenario.id.startsWith('small-')).map(scenario => scenario.generator))
  return (['autocannon', 'wrk', 'grpc'] as const).find(generator => small.has(generator))
}

/** The small-model points of a run, under one load generator; empty when it measured no small-model scenario. */
export function chartPoints (results: BenchResults): ChartPoint[] {
  const points: ChartPoint[] = []
  let inProcess: ChartPoint | undefined
  const generator = chartGenerator(results)
  for (const scenario of results.scenarios.filter(scenario => scenario.id.startsWith('small-') && scenario.generator === generator)) {
    for (const run of scenario.runs) {
      const point = { series: TARGET_NAMES[run.target], connections: scenario.connections, rps: run.rps, p99: run.p99 }
      if (run.target === 'in-process') inProcess = { ...point, connections: null }
      else points.push(point)
    }
  }
  return inProcess === undefined ? points : [...points, inProcess]
}

type Panel = Extract<TopLevelSpec, { hconcat: unknown }>['hconcat'][number]

function panel (field: 'rps' | 'p99', title: string, logScale: boolean): Panel {
  const y = { field, type: 'quantitative' as const, title, scale: logScale ? { type: 'log' as const } : { zero: true } }
  const color = {
    field: 'series',
    type: 'nominal' as const,
    title: null,
    scale: { domain: SERIES_ORDER.map(target => TARGET_NAMES[target]), range: SERIES_ORDER.map(target => COLORS[target]) }
  }
  return {
    title,
    width: 320,
    height: 240,
    layer: [
      {
        transform: [{ filter: 'datum.connections != null' }],
        mark: { type: 'line', point: true },
        encoding: { x: { field: 'connections', type: 'ordinal', title: 'connections', axis: { labelAngle: 0 } }, y, color }
      },
      {
        // No connections axis in-process: one constant value across the panel.
        transform: [{ filter: 'datum.connections == null' }],
        mark: { type: 'rule', strokeDash: [6, 4], strokeWidth: 2 },
        encoding: { y, color }
      }
    ]
  }
}

export function chartSpec (results: BenchResults, points: ChartPoint[]): TopLevelSpec {
  const shape = results.scenarios.find(scenario => scenario.id.startsWith('small-'))?.modelShape ?? ''
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: `onnx-serve and its ceilings: mlp-small ${shape}, 1 row per request, under ${chartGenerator(results) ?? 'no load'}`,
      subtitle: `${results.label} · server on core 0, load on core 1 · ${results.settings.seconds} s per run · dashed: in-process, which has no connections`
    },
    data: { values: points },
    hconcat: [panel('rps', 'throughput (req/s)', false), panel('p99', 'p99 latency (ms, log scale)', true)],
    // The legend's default 160 px cut "in-process session.run" short.
    config: { font: 'sans-serif', legend: { labelLimit: 400 } }
  }
}

export async function renderSvg (spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}
