import t from 'tap'
import { execFileSync } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { parseWrkOutput, runWrk, wrkScript } from '../../bench/lib/wrk'

function hasWrk (): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' })
    return true
  } catch (error) {
    // wrk --version exits 1 after printing its version.
    return (error as NodeJS.ErrnoException).code !== 'ENOENT'
  }
}

t.test('the script cycles through the bodies with the token, and prints one summary line', async t => {
  const script = wrkScript('/predict', ['{"input_data":[1,2]}', '{"input_data":[3,4]}'], 'abc.def')
  t.match(script, '"{\\"input_data\\":[1,2]}",')
  t.match(script, '["Authorization"] = "Bearer abc.def"')
  t.match(script, 'wrk.format("POST", "/predict", headers, body)')
  t.match(script, 'WRK_SUMMARY')
  t.throws(() => wrkScript('/predict', ['{"x":"é"}'], 't'), /printable ASCII/, 'a body Lua would need escapes for is refused')
})

t.test('the summary line is read into ms and CPU seconds', async t => {
  const output = 'Running 1s test @ http://127.0.0.1:1/\n' +
    'WRK_SUMMARY {"durationUs":2000000,"requests":5000,"statusErrors":7,"connectErrors":0,"readErrors":1,"writeErrors":0,"timeouts":2,' +
    '"latencyUs":{"count":5000,"mean":512.5,"p50":480,"p90":700,"p99":1500,"p999":3000,"max":9000},"cpuTicks":150}\n'
  t.strictSame(parseWrkOutput(output), {
    durationUs: 2_000_000,
    requests: 5000,
    statusErrors: 7,
    connectErrors: 0,
    readErrors: 1,
    writeErrors: 0,
    timeouts: 2,
    latency: { count: 5000, mean: 0.5125, p50: 0.48, p90: 0.7, p99: 1.5, p999: 3, max: 9 },
    cpuSeconds: 1.5
  })
  t.throws(() => parseWrkOutput('unable to connect to 127.0.0.1:1 Connection refused'), /wrk printed no summary: unable to connect/)
})

t.test('a real wrk run against a local server: every body is sent, with the token', { skip: hasWrk() ? false : 'wrk is not installed (apt-get install wrk; CI installs it)' }, async t => {
  const seen = new Map<string, number>()
  let authorized = 0
  const server = createServer((request, response) => {
    let body = ''
    request.on('data', chunk => { body += String(chunk) })
    request.on('end', () => {
      seen.set(body, (seen.get(body) ?? 0) + 1)
      if (request.headers.authorization === 'Bearer tok') authorized++
      // Every third body is refused: wrk counts those apart.
      response.statusCode = body === '{"n":3}' ? 429 : 200
      response.end('{}')
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  const { port } = server.address() as AddressInfo
  const summary = await runWrk({ url: `http://127.0.0.1:${port}/predict`, connections: 2, seconds: 1, bodies: ['{"n":1}', '{"n":2}', '{"n":3}'], token: 'tok' })
  t.ok(summary.requests > 100, `${summary.requests} responses in 1 s`)
  t.strictSame([...seen.keys()].sort(), ['{"n":1}', '{"n":2}', '{"n":3}'], 'every body was sent')
  t.ok(Math.abs(summary.statusErrors - (seen.get('{"n":3}') ?? 0)) <= 2, `the 429s counted as errors: ${summary.statusErrors}`)
  t.ok(authorized >= summary.requests, 'every request carried the token')
  t.ok(summary.latency.p99 > 0 && summary.latency.p99 >= summary.latency.p50, `latency p50 ${summary.latency.p50} ms, p99 ${summary.latency.p99} ms`)
  t.ok(summary.cpuSeconds > 0 && summary.cpuSeconds < 2, `wrk's own CPU: ${summary.cpuSeconds} s`)
})
