import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { logIssues } from '../../bench/lib/server-log'
import { LatencyHistogram, parseVmRss, readCpuMs, readRssMb, slope, summarizeSoak } from '../../bench/lib/stats'

t.test('LatencyHistogram: nearest-rank percentiles at 1 µs', async t => {
  const empty = new LatencyHistogram()
  t.ok(Number.isNaN(empty.percentile(50)))
  t.ok(Number.isNaN(empty.summary().mean))

  const histogram = new LatencyHistogram()
  for (let i = 1; i <= 1000; i++) histogram.record(i / 1000)
  histogram.record(1500)
  histogram.record(2500.5)
  const summary = histogram.summary()
  t.equal(summary.count, 1002)
  t.equal(summary.p50, 0.501)
  t.equal(summary.p90, 0.902)
  t.equal(summary.p99, 0.992)
  t.equal(summary.p999, 1500, 'rank 1001 of 1002: beyond a second the value is kept as it is')
  t.equal(summary.max, 2500.5)
  t.ok(Math.abs(summary.mean - (500.5 + 1500 + 2500.5) / 1002) < 1e-9)
  const rounded = new LatencyHistogram()
  rounded.record(0.0004)
  rounded.record(-1)
  t.equal(rounded.percentile(100), 0, 'below a µs, and clock steps back, count as 0')
})

t.test('parseVmRss and readRssMb', async t => {
  t.equal(parseVmRss('Name:\tnode\nVmHWM:\t  200000 kB\nVmRSS:\t  123456 kB\nThreads:\t11\n'), 123456)
  t.equal(parseVmRss('Name:\tzombie\nState:\tZ (zombie)\n'), undefined)
  const own = readRssMb(process.pid)
  t.ok(own !== undefined && own > 10 && own < 4096, `this process: ${own} MB`)
  t.equal(readRssMb(2 ** 30), undefined, 'no such process')
})

t.test('readCpuMs: this process\'s CPU time, rising as it works', async t => {
  const before = readCpuMs(process.pid)
  const usage = process.cpuUsage()
  const end = Date.now() + 100
  while (Date.now() < end) Math.sqrt(Math.random())
  const after = readCpuMs(process.pid)
  const spent = process.cpuUsage(usage)
  t.ok(before !== undefined && after !== undefined, 'read')
  const measured = (after ?? 0) - (before ?? 0)
  t.ok(Math.abs(measured - (spent.user + spent.system) / 1000) <= 30, `${measured} ms against process.cpuUsage's ${((spent.user + spent.system) / 1000).toFixed(0)} ms (10 ms ticks)`)
  t.equal(readCpuMs(2 ** 30), undefined, 'no such process')
})

t.test('slope: least squares', async t => {
  t.equal(slope([{ x: 0, y: 1 }, { x: 1, y: 3 }, { x: 2, y: 5 }]), 2)
  t.equal(slope([{ x: 0, y: 1 }, { x: 1, y: 0 }, { x: 2, y: 1 }, { x: 3, y: 0 }]), -0.2)
  t.ok(Number.isNaN(slope([{ x: 1, y: 1 }, { x: 1, y: 2 }])), 'no spread in x')
})

t.test('summarizeSoak: start, peak, end, and MB/min over the second half', async t => {
  // Grows 1 MB/s while the heap warms up, then 0.05 MB/s (3 MB/min).
  const samples = Array.from({ length: 20 }, (_, t) => ({ t, rssMb: t < 10 ? 100 + t : 110 + (t - 10) * 0.05 }))
  const summary = summarizeSoak(samples)
  t.equal(summary.startMb, 100)
  t.equal(summary.endMb, 110 + 9 * 0.05)
  t.equal(summary.peakMb, summary.endMb)
  t.equal(summary.samples, 20)
  t.ok(Math.abs(summary.slopeMbPerMin - 3) < 1e-9, `${summary.slopeMbPerMin} MB/min`)
  t.ok(Number.isNaN(summary.floorSlopeMbPerMin), 'one 30 s window: no floor slope')
  t.throws(() => summarizeSoak([]), /no RSS samples/)
})

t.test('summarizeSoak: the floor slope sees a leak under a sawtooth, and no leak in a sawtooth alone', async t => {
  // A 40 MB sawtooth of 25 s, cut mid-climb at 300 s: the fitted slope is large either way.
  const saw = (t: number): number => 160 + (t % 25) * 1.6
  const flat = summarizeSoak(Array.from({ length: 301 }, (_, t) => ({ t, rssMb: saw(t) })))
  t.ok(Math.abs(flat.floorSlopeMbPerMin) < 0.5, `no leak: ${flat.floorSlopeMbPerMin} MB/min (its last second, high on the saw, alone in its window)`)
  t.ok(flat.slopeMbPerMin > 1, `where the least-squares slope says ${flat.slopeMbPerMin} MB/min`)
  const leaking = summarizeSoak(Array.from({ length: 300 }, (_, t) => ({ t, rssMb: saw(t) + t * 0.05 })))
  t.ok(Math.abs(leaking.floorSlopeMbPerMin - 3) < 0.6, `3 MB/min leak: ${leaking.floorSlopeMbPerMin} MB/min`)
})

t.test('logIssues: warnings, errors and placement moves since readiness, by message and status', async t => {
  const file = join(t.testdir(), 'server.log')
  const line = (level: number, time: number, msg: string, extra: object = {}): string => JSON.stringify({ level, time, msg, ...extra })
  writeFileSync(file, [
    line(40, 1, 'NO JWT KEY CONFIGURED'),
    line(40, 2, 'request completed', { req: { method: 'GET', url: '/health/ready' }, res: { statusCode: 503 } }),
    line(30, 5, 'request completed', { req: { method: 'POST', url: '/predict' }, res: { statusCode: 200 } }),
    line(50, 6, 'request completed', { req: { method: 'POST', url: '/predict' }, res: { statusCode: 500 } }),
    line(50, 7, 'request completed', { req: { method: 'POST', url: '/predict' }, res: { statusCode: 500 } }),
    line(40, 8, 'inference queue full'),
    line(30, 9, 'model version mlp-small/1 now runs in the worker threads', { placement: 'worker', reason: 'its runs take 300 µs on average; INLINE_RUN_MAX_US is 250' }),
    'listening at http://127.0.0.1:3999',
    '',
    'Error: boom',
    '    at somewhere'
  ].join('\n') + '\n')
  t.strictSame(await logIssues('onnx-serve', file, 3), [
    { process: 'onnx-serve', level: 50, msg: 'request completed (500 POST /predict)', count: 2 },
    { process: 'onnx-serve', level: 40, msg: 'inference queue full', count: 1 },
    { process: 'onnx-serve', level: 30, msg: 'model version mlp-small/1 now runs in the worker threads: its runs take 300 µs on average; INLINE_RUN_MAX_US is 250', count: 1 },
    { process: 'onnx-serve', level: 50, msg: 'Error: boom', count: 1 },
    { process: 'onnx-serve', level: 50, msg: '    at somewhere', count: 1 }
  ])
  t.equal((await logIssues('onnx-serve', file)).length, 7, 'without a start time, start-up lines count too')
})
