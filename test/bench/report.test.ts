import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { chartGenerator, chartPoints, chartSpec, renderSvg } from '../../bench/lib/chart'
import type { LoadResult } from '../../bench/lib/load'
import { fileLabel, grpcBesideHttp, markdownReport, markdownTable, notes, ratio, transportTable, writeResults } from '../../bench/lib/report'
import type { BenchResults, Run, ScenarioResult } from '../../bench/lib/results'
import type { Target } from '../../bench/lib/scenarios'

function load (rps: number, extra: Partial<LoadResult> = {}): LoadResult {
  return {
    startUs: 0,
    endUs: 10e6,
    seconds: 10,
    rps,
    ok: rps * 10,
    non2xx: 0,
    errors: 0,
    timeouts: 0,
    statusCodes: { 200: rps * 10 },
    latency: { count: rps * 10, mean: 1, p50: 1, p90: 2, p99: 3, p999: 4, max: 5 },
    loadCpu: 0.5,
    generator: 'autocannon',
    ...extra
  }
}

function run (target: Target, rps: number, p99: number, extra: Partial<Run> = {}): Run {
  return { target, rps, p50: p99 / 4, p99, errors: 0, peakRssMb: 100, ...(target === 'in-process' ? {} : { load: load(rps) }), ...extra }
}

function small (connections: number, served: number): ScenarioResult {
  return {
    id: `small-c${connections}`,
    model: 'mlp-small',
    modelShape: '64→256→256→10',
    route: 'predict',
    path: '/predict',
    connections,
    generator: 'autocannon',
    runs: [
      run('in-process', 50000, 0.03, connections === 1 ? {} : { sharedWith: 'small-c1' }),
      run('echo', 20000 + connections * 100, connections * 0.2),
      run('naive', 10000 + connections * 50, connections * 0.5),
      run('onnx-serve', served, connections * 0.9, { cpuUsPerRequest: 900000 / served })
    ]
  }
}

function fakeResults (): BenchResults {
  const v2: ScenarioResult = {
    id: 'iris-v2-c10',
    model: 'iris',
    modelShape: '4→3 (softmax regression)',
    route: 'v2',
    path: '/v2/models/iris/infer',
    connections: 10,
    generator: 'autocannon',
    runs: [
      run('echo', 20000, 2, { load: load(20000, { loadCpu: 0.97 }) }),
      run('onnx-serve', 3000, 9, {
        errors: 12,
        load: load(3000, { non2xx: 10, errors: 2, timeouts: 1, statusCodes: { 200: 30000, 429: 4, 503: 6 } })
      })
    ]
  }
  return {
    label: '2026-12-01T2130-node20.20.2-10s',
    date: '2026-12-01T21:30:00.000Z',
    node: { server: 'v20.20.2', serverPath: '/usr/bin/node', load: 'v20.20.2' },
    machine: { cpu: 'Test CPU', cores: 2, pinned: true },
    settings: { seconds: 10, warmupSeconds: 2, inferenceThreads: 1, placement: 'auto', rateLimitMax: 10000000, logLevel: 'info', logDestination: 'a file' },
    scenarios: [small(1, 2000), small(10, 5000), small(64, 60000), v2],
    logIssues: [{ process: 'onnx-serve-iris', level: 50, msg: 'request completed (500 POST /predict)', count: 3 }],
    notes: []
  }
}

t.test('fileLabel: date, Node version, mode, label; no host name', async t => {
  const date = new Date(2026, 11, 1, 9, 5)
  t.equal(fileLabel(date, 'v20.20.2', { seconds: 10, soakSeconds: 0, cache: false, profile: false }), '2026-12-01T0905-node20.20.2-10s')
  t.equal(fileLabel(date, 'v24.1.0', { seconds: 2, soakSeconds: 0, cache: false, profile: true, label: 'x' }), '2026-12-01T0905-node24.1.0-2s-profile-x')
  t.equal(fileLabel(date, 'v20.20.2', { seconds: 10, soakSeconds: 600, cache: false, profile: false }), '2026-12-01T0905-node20.20.2-soak600s')
  t.equal(fileLabel(date, 'v20.20.2', { seconds: 5, soakSeconds: 0, cache: true, profile: false }), '2026-12-01T0905-node20.20.2-5s-cache')
})

t.test('ratios against the ceilings of the same scenario', async t => {
  const scenario = small(10, 5000)
  const served = scenario.runs[3]
  t.equal(ratio(served, scenario, 'echo'), 5000 / 21000)
  t.equal(ratio(served, scenario, 'naive'), 5000 / 10500)
  t.equal(ratio(served, scenario, 'in-process'), 0.1)
  t.equal(ratio(served, { ...scenario, runs: [served] }, 'echo'), undefined, 'no echo run: no ratio')
})

t.test('markdownTable: one row per run, ceilings first', async t => {
  const table = markdownTable([small(10, 5000)])
  const lines = table.trim().split('\n')
  t.equal(lines.length, 6)
  t.equal(lines[0], '| scenario | run | req/s | p50 ms | p99 ms | errors | CPU µs/req | peak RSS MB | vs echo | vs naive | vs in-process |')
  t.equal(lines[2], '| small-c10: mlp-small `/predict`, 10 conn, autocannon | in-process session.run (latency: one call) (run of small-c1) | 50000 | 0.01 | 0.03 | - | - | 100 | 2.38 | 4.76 | 1.00 |')
  t.equal(lines[5], '| small-c10: mlp-small `/predict`, 10 conn, autocannon | onnx-serve | 5000 | 2.25 | 9.00 | 0 | 180.0 | 100 | 0.24 | 0.48 | 0.10 |')
})

t.test('notes: saturated load generator, errors, 429s, batching past the in-process loop, log lines', async t => {
  const found = notes(fakeResults())
  const expected = [
    /small-c64: onnx-serve beats the 1-row in-process loop \(1\.20×\)/,
    /iris-v2-c10, Fastify echo: the load generator used 97% of its core/,
    /iris-v2-c10, onnx-serve: 12 errors \(4× 429, 6× 503, 1 socket errors, 1 timeouts\)/,
    /iris-v2-c10, onnx-serve: the rate limit answered 429/,
    /onnx-serve-iris: 3× level 50 "request completed \(500 POST \/predict\)"/
  ]
  t.equal(found.length, expected.length)
  expected.forEach((pattern, i) => t.match(found[i], pattern))
})

t.test('markdownReport: settings, table, soak and notes', async t => {
  const results = fakeResults()
  results.soak = {
    seconds: 20,
    connections: 10,
    model: 'mlp-small',
    load: load(4000),
    idleRssMb: 90,
    summary: { startMb: 100, peakMb: 130, endMb: 120, slopeMbPerMin: 0.5, floorSlopeMbPerMin: 0.25, samples: 21 },
    samples: []
  }
  results.profile = {
    dir: 'bench/profiles/x',
    generator: 'autocannon',
    load: load(1500),
    threads: [{ file: 'main thread: CPU.1.2.3.0.001.cpuprofile', summary: { totalMs: 100, nonIdleMs: 80, stages: [{ stage: 'auth', ms: 40, percent: 50 }], top: [] } }]
  }
  const report = markdownReport(results)
  t.match(report, /^# onnx-serve bench 2026-12-01T2130-node20\.20\.2-10s\n/)
  t.match(report, /RATE_LIMIT_MAX=10000000 per 60 s window/)
  t.match(report, /INFERENCE_THREADS=1/)
  t.match(report, /servers and the in-process loop pinned to core 0, load generator to core 1/)
  t.match(report, /\| iris-v2-c10: iris `\/v2\/models\/iris\/infer`, 10 conn, autocannon \| onnx-serve \| 3000 \|/)
  t.match(report, /## Soak: mlp-small, 10 connections, 20 s\n\n.*\n.*\n\| 90\.0 \| 100\.0 \| 130\.0 \| 120\.0 \| 0\.50 \| 0\.25 \| 4000 \| 3\.00 \| 0 \|/)
  t.match(report, /2 s warm-up \(longer, up to 30 s, until 10,000 requests were answered\), then the soak; every request/)
  t.match(report, /A soak this short shows the heap's garbage-collection sawtooth/)
  t.notMatch(markdownReport({ ...results, soak: { ...results.soak, seconds: 600 } }), /sawtooth/, 'not said of a long soak')
  t.match(report, /## CPU profile of onnx-serve \(small-c10, measured window only\)\n\nProfiles in `bench\/profiles\/x`; .* 1500 req\/s/)
  t.match(report, /\*\*main thread: CPU\.1\.2\.3\.0\.001\.cpuprofile\*\*: 80 ms on CPU of 100 ms sampled\n\n.*\n.*\n\| auth \| 40\.0 \| 50\.0 \|/)
  t.match(report, /## Notes\n\n- /)
  t.notMatch(report, /memory limit/, 'no heap sizing said when Node sized the heap itself')
  const limited = markdownReport({ ...results, settings: { ...results.settings, memoryLimitMb: 2048 } })
  t.match(limited, /Every server process \(onnx-serve and the ceilings\) had its V8 heap sized as Node sizes it in a container with a 2048 MiB memory limit \(`--max-old-space-size=512`, --memory-limit\)/)
})

t.test('markdownReport: the prediction cache\'s hit and miss paths', async t => {
  const results = { ...fakeResults(), scenarios: [] }
  results.cache = {
    model: 'mlp-small',
    connections: 10,
    runs: [
      { path: 'miss', load: load(7000), peakRssMb: 150, hits: 0, misses: 84000 },
      { path: 'hit', load: load(11000, { non2xx: 2 }), peakRssMb: 160, hits: 132000, misses: 1 }
    ]
  }
  const report = markdownReport(results)
  t.match(report, /## Prediction cache: mlp-small with "cache": true, `\/predict`, 10 connections/)
  t.match(report, /\| miss \| a new row every request \| 7000 \| 1\.00 \| 3\.00 \| 0 \| 150 \| 0 \| 84000 \|/)
  t.match(report, /\| hit \| the same row every request \| 11000 \| 1\.00 \| 3\.00 \| 2 \| 160 \| 132000 \| 1 \|/)
})

t.test('chart: the small model\'s series, in-process as a rule, rendered to SVG', async t => {
  const results = fakeResults()
  const points = chartPoints(results)
  t.equal(points.length, 10, 'three HTTP series at three connection counts, one in-process value')
  t.strictSame(points.at(-1), { series: 'in-process session.run', connections: null, rps: 50000, p99: 0.03 })
  t.notOk(points.some(point => point.series === 'Fastify echo' && point.connections === 10 && point.rps === 20000), 'iris runs are not drawn')
  t.strictSame(chartPoints({ ...results, scenarios: [results.scenarios[3]] }), [], 'no small-model run, no chart')
  const underWrk = results.scenarios.filter(scenario => scenario.id.startsWith('small-')).map(scenario => ({ ...scenario, id: `${scenario.id}-wrk`, generator: 'wrk' as const }))
  t.strictSame(chartPoints({ ...results, scenarios: [...results.scenarios, ...underWrk] }), points, 'one generator drawn: autocannon\'s points, not wrk\'s beside them')
  t.equal(chartPoints({ ...results, scenarios: underWrk }).length, 10, 'wrk\'s when it is the only one')

  const svg = await renderSvg(chartSpec(results, points))
  t.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/)
  for (const name of ['onnx-serve', 'naive handler', 'Fastify echo', 'in-process session.run', 'throughput (req/s)', 'p99 latency (ms, log scale)', 'connections']) {
    t.ok(svg.includes(name), `the SVG shows "${name}"`)
  }

  const dir = t.testdir()
  const files = writeResults(dir, results, '# report\n', svg)
  t.strictSame(readdirSync(dir).sort(), [`${results.label}.json`, `${results.label}.md`, `${results.label}.svg`], 'the run\'s own files, no shared one rewritten')
  t.strictSame(files, {
    json: join(dir, `${results.label}.json`),
    markdown: join(dir, `${results.label}.md`),
    svg: join(dir, `${results.label}.svg`)
  })
  t.strictSame(JSON.parse(readFileSync(files.json, 'utf8')), results)
  t.equal(readFileSync(files.svg ?? '', 'utf8'), svg)

  const withoutChart = t.testdir()
  t.strictSame(Object.keys(writeResults(join(withoutChart, 'new'), results, '# report\n')), ['json', 'markdown'], 'no SVG when there is no chart')
})

/** small-cN-grpc: every server over gRPC; the in-process run is the HTTP twin's. */
function smallGrpc (connections: number, served: number, extra: Partial<LoadResult> = {}): ScenarioResult {
  const twin = small(connections, 1)
  const overGrpc = (target: Target, rps: number): Run => run(target, rps, connections * 0.3, { load: load(rps, { generator: 'grpc', statusCodes: { OK: rps * 10 } }) })
  return {
    ...twin,
    id: `small-c${connections}-grpc`,
    path: 'inference.GRPCInferenceService/ModelInfer',
    generator: 'grpc',
    runs: [
      { ...twin.runs[0], sharedWith: twin.id },
      overGrpc('echo', 15000),
      overGrpc('naive', 6000),
      run('onnx-serve', served, connections * 0.6, { cpuUsPerRequest: 450000 / served, load: load(served, { generator: 'grpc', statusCodes: { OK: served * 10 }, ...extra }) })
    ]
  }
}

t.test('gRPC beside HTTP: each grpc scenario\'s onnx-serve run against every HTTP one of the same model and connections', async t => {
  const results = fakeResults()
  const wrk10 = { ...small(10, 6000), id: 'small-c10-wrk', generator: 'wrk' as const }
  results.scenarios.push(wrk10, smallGrpc(10, 7500), smallGrpc(1, 3000))
  const pairs = grpcBesideHttp(results.scenarios)
  t.strictSame(pairs.map(pair => `${pair.grpcId} ~ ${pair.httpId} (${pair.httpGenerator})`),
    ['small-c10-grpc ~ small-c10 (autocannon)', 'small-c10-grpc ~ small-c10-wrk (wrk)', 'small-c1-grpc ~ small-c1 (autocannon)'],
    'iris and other connection counts are not paired')
  t.equal(pairs[0].grpc.rps, 7500)
  t.equal(pairs[0].http.rps, 5000)

  const lines = transportTable(pairs).trim().split('\n')
  t.equal(lines[0], '| model | conn | HTTP run | HTTP req/s | gRPC req/s | gRPC/HTTP req/s | HTTP CPU µs/req | gRPC CPU µs/req | gRPC/HTTP CPU | HTTP p99 ms | gRPC p99 ms |')
  t.equal(lines[2], '| mlp-small | 10 | small-c10 (autocannon) | 5000 | 7500 | 1.50 | 180.0 | 60.0 | 0.33 | 9.00 | 6.00 |')
  t.equal(lines[3], '| mlp-small | 10 | small-c10-wrk (wrk) | 6000 | 7500 | 1.25 | 150.0 | 60.0 | 0.40 | 9.00 | 6.00 |')
  t.equal(transportTable([]), '')
  t.equal(transportTable([{ ...pairs[0], http: { ...pairs[0].http, rps: 0, cpuUsPerRequest: undefined } }]).split('\n')[2],
    '| mlp-small | 10 | small-c10 (autocannon) | 0 | 7500 | - | - | 60.0 | - | 9.00 | 6.00 |', 'no ratio without a denominator')

  const table = markdownTable([results.scenarios[5]]).trim().split('\n')
  t.equal(table[3], '| small-c10-grpc: mlp-small `inference.GRPCInferenceService/ModelInfer`, 10 conn, grpc | grpc-js echo | 15000 | 0.75 | 3.00 | 0 | - | 100 | 1.00 | 2.50 | 0.30 |')
  t.equal(table[5], '| small-c10-grpc: mlp-small `inference.GRPCInferenceService/ModelInfer`, 10 conn, grpc | onnx-serve | 7500 | 1.50 | 6.00 | 0 | 60.0 | 100 | 0.50 | 1.25 | 0.15 |', 'its ratios are against the gRPC ceilings')

  const report = markdownReport(results)
  t.match(report, /load generator \(autocannon, one process on Node v20\.20\.2, wrk, one thread, or the gRPC loop, @grpc\/grpc-js in one process on Node v20\.20\.2/)
  t.match(report, /In a `-grpc` scenario every server is called over gRPC \(unary ModelInfer, .*one HTTP\/2 channel per 10 calls in flight\): .*10 s deadline; its echo is a bare @grpc\/grpc-js server/)
  t.match(report, /Each run: 2 s warm-up \(longer, up to 30 s, until 10,000 requests were answered\), then 10 s measured/)
  t.match(report, /## onnx-serve over gRPC beside HTTP\n\n\| model \| conn \|.*\n.*\n\| mlp-small \| 10 \| small-c10 \(autocannon\) \| 5000 \| 7500 \| 1\.50 \|/)
  t.notMatch(markdownReport(fakeResults()), /over gRPC/, 'said only of a run with grpc scenarios')
})

t.test('notes on a gRPC run: statuses by name, OK not an error, RESOURCE_EXHAUSTED as the rate limit', async t => {
  const results = { ...fakeResults(), scenarios: [smallGrpc(10, 1000, { loadCpu: 0.95, non2xx: 7, errors: 2, timeouts: 2, statusCodes: { OK: 10000, RESOURCE_EXHAUSTED: 4, UNAVAILABLE: 3 } })], logIssues: [] }
  results.scenarios[0].runs[3].errors = 9
  t.strictSame(notes(results), [
    'small-c10-grpc, onnx-serve: the load generator used 95% of its core, so this row may be bounded by grpc rather than the server: a ratio against it says little.',
    'small-c10-grpc, onnx-serve: 9 errors (4× RESOURCE_EXHAUSTED, 3× UNAVAILABLE, 0 socket errors, 2 timeouts).',
    'small-c10-grpc, onnx-serve: the rate limit answered RESOURCE_EXHAUSTED (HTTP\'s 429); raise RATE_LIMIT_MAX.'
  ])
})

t.test('the chart draws autocannon, then wrk, then grpc', async t => {
  const results = fakeResults()
  const smalls = results.scenarios.filter(scenario => scenario.id.startsWith('small-'))
  const as = (generator: 'wrk' | 'grpc') => smalls.map(scenario => ({ ...scenario, id: `${scenario.id}-${generator}`, generator }))
  t.equal(chartGenerator({ ...results, scenarios: [...as('grpc'), ...as('wrk'), ...results.scenarios] }), 'autocannon')
  t.equal(chartGenerator({ ...results, scenarios: [...as('grpc'), ...as('wrk')] }), 'wrk')
  t.equal(chartGenerator({ ...results, scenarios: as('grpc') }), 'grpc')
  t.equal(chartGenerator({ ...results, scenarios: [] }), undefined)
})
