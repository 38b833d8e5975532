import t from 'tap'
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import {
  classifyFrame,
  formatProfileSummary,
  nodeStages,
  packageOf,
  selfTimes,
  summarizeProfile,
  type CpuProfile,
  type Stage
} from '../../bench/lib/profile-summary'

const script = join(__dirname, '..', '..', 'bench', 'lib', 'profile-summary.ts')
const modules = 'file:///srv/app/node_modules'
const dist = 'file:///srv/app/dist'

t.test('packageOf names the innermost package, scoped or not', async t => {
  t.equal(packageOf(`${modules}/fastify/lib/reply.js`), 'fastify')
  t.equal(packageOf(`${modules}/@fastify/jwt/jwt.js`), '@fastify/jwt')
  t.equal(packageOf(`${modules}/@fastify/jwt/node_modules/fast-jwt/src/verifier.js`), 'fast-jwt')
  t.equal(packageOf(`${dist}/lib/tensors/tensor.js`), undefined)
})

t.test('classifyFrame', async t => {
  const cases: Array<[string, string, Stage | undefined]> = [
    ['(garbage collector)', '', 'GC'],
    ['(idle)', '', 'idle'],
    ['(program)', '', 'program'],
    ['(root)', '', 'other'],
    ['writev', '', 'HTTP'],
    ['postMessage', '', 'worker hop'],
    ['stringify', '', 'serialize'],
    ['someNative', '', undefined],
    ['parserOnHeadersComplete', 'node:_http_common', 'HTTP'],
    ['Socket._writeGeneric', 'node:net', 'HTTP'],
    ['writeGeneric', 'node:internal/stream_base_commons', 'HTTP'],
    ['Readable.push', 'node:internal/streams/readable', 'HTTP'],
    ['onmessage', 'node:internal/worker/io', 'worker hop'],
    ['emit', 'node:events', undefined],
    ['processTicksAndRejections', 'node:internal/process/task_queues', undefined],
    ['serialize', `${modules}/fastify/lib/reply.js`, 'serialize'],
    ['onSendEnd', `${modules}/fastify/lib/reply.js`, 'HTTP'],
    ['validate', `${modules}/fastify/lib/validation.js`, 'validation'],
    ['rawBody', `${modules}/fastify/lib/contentTypeParser.js`, 'body parse'],
    ['child', `${modules}/fastify/lib/logger-factory.js`, 'log'],
    ['find', `${modules}/find-my-way/index.js`, 'HTTP'],
    ['parse', `${modules}/secure-json-parse/index.js`, 'body parse'],
    ['verify', `${modules}/@fastify/jwt/jwt.js`, 'auth'],
    ['verify', `${modules}/fast-jwt/src/verifier.js`, 'auth'],
    ['onRequest', `${modules}/@fastify/rate-limit/index.js`, 'rate limit'],
    ['get', `${modules}/toad-cache/dist/toad-cache.cjs`, 'rate limit'],
    ['validate', `${modules}/ajv/dist/core.js`, 'validation'],
    ['anonymous', `${modules}/fast-json-stringify/index.js`, 'serialize'],
    ['write', `${modules}/pino/lib/proto.js`, 'log'],
    ['write', `${modules}/sonic-boom/index.js`, 'log'],
    ['observe', `${modules}/prom-client/lib/histogram.js`, 'metrics'],
    ['helmet', `${modules}/helmet/index.cjs`, 'security headers'],
    ['run', `${modules}/onnxruntime-node/dist/backend.js`, 'inference'],
    ['overloaded', `${modules}/@fastify/under-pressure/index.js`, 'other'],
    ['authenticate', `${dist}/plugins/auth.js`, 'auth'],
    ['keyFor', `${dist}/lib/auth/key-set.js`, 'auth'],
    ['verify', `${dist}/lib/auth/auth-key.js`, 'auth'],
    ['limit', `${dist}/plugins/rate-limit.js`, 'rate limit'],
    ['requestCompleted', `${dist}/plugins/request-log.js`, 'log'],
    ['onResponse', `${dist}/plugins/metrics.js`, 'metrics'],
    ['headers', `${dist}/plugins/security.js`, 'security headers'],
    ['walk', `${dist}/lib/tensors/tensor-json.js`, 'decode'],
    ['toTensor', `${dist}/lib/tensors/tensor.js`, 'decode'],
    ['decode', `${dist}/lib/protocols/v2/infer-request.js`, 'decode'],
    ['predictOutput', `${dist}/lib/protocols/rest/predictions.js`, 'decode'],
    ['rows', `${dist}/lib/protocols/rest/tensor-rows.js`, 'decode'],
    ['run', `${dist}/lib/runtime/inference-pool.js`, 'worker hop'],
    ['add', `${dist}/lib/runtime/dynamic-batcher.js`, 'data plane'],
    ['isResult', `${dist}/lib/runtime/worker-messages.js`, 'worker hop'],
    ['infer', `${dist}/lib/data-plane/data-plane.js`, 'data plane'],
    ['onMessage', `${dist}/lib/runtime/inference-worker.js`, 'inference'],
    ['run', `${dist}/lib/runtime/ort-session.js`, 'inference'],
    ['check', `${dist}/schemas/params.js`, 'validation'],
    ['Object', `${dist}/lib/protocols/rest/wire.js`, 'validation'],
    ['Object', `${dist}/lib/protocols/v2/wire.js`, 'validation'],
    ['Object', `${dist}/lib/protocols/v2/wire.js`, 'validation'],
    ['get', `${dist}/lib/cache/prediction-cache.js`, 'other'],
    ['handler', `${dist}/routes/predict.js`, 'other'],
    ['handler', `${dist}/routes/v2/repository/index.js`, 'other'],
    // A /lib/ in the install path is not the project's lib/.
    ['run', 'file:///usr/lib/onnx-serve/dist/lib/runtime/inference-pool.js', 'worker hop'],
    ['decode', 'file:///usr/lib/onnx-serve/dist/lib/protocols/v2/infer-request.js', 'decode'],
    ['main', `${dist}/server.js`, 'other']
  ]
  for (const [functionName, url, stage] of cases) t.equal(classifyFrame({ functionName, url }), stage, `${functionName} ${url}`)
})

// root → http parser → fastify route → (auth → native verify, handler → tensor decode), plus GC and idle.
function syntheticProfile (): CpuProfile {
  const frame = (functionName: string, url: string): { functionName: string, url: string } => ({ functionName, url })
  return {
    nodes: [
      { id: 1, callFrame: frame('(root)', ''), children: [2, 7, 8] },
      { id: 2, callFrame: frame('parserOnHeadersComplete', 'node:_http_common'), children: [3] },
      { id: 3, callFrame: frame('emit', 'node:events'), children: [4, 5] },
      { id: 4, callFrame: frame('verify', `${modules}/fast-jwt/src/verifier.js`), children: [9] },
      { id: 5, callFrame: frame('handler', `${dist}/routes/predict.js`), children: [6] },
      { id: 6, callFrame: frame('decode', `${dist}/lib/tensors/tensor-json.js`), children: [] },
      { id: 7, callFrame: frame('(garbage collector)', ''), children: [] },
      { id: 8, callFrame: frame('(idle)', '') },
      { id: 9, callFrame: frame('hmacDigest', ''), children: [] }
    ],
    startTime: 1_000_000,
    // Each sample lasts until the next: 3: 10 µs, 9: 20, 6: 30, 7: 40, 8: 100, 4: 50 (the last, to endTime).
    samples: [3, 9, 6, 7, 8, 4],
    timeDeltas: [0, 10, 20, 30, 40, 100],
    endTime: 1_000_250
  }
}

t.test('nodeStages: a frame without a stage takes its caller\'s', async t => {
  const stages = nodeStages(syntheticProfile())
  t.equal(stages.get(3), 'HTTP', 'node:events under the HTTP parser')
  t.equal(stages.get(9), 'auth', 'a native function under fast-jwt')
  t.equal(stages.get(5), 'other', 'a route handler has its own stage, not its caller\'s')
  t.equal(stages.get(6), 'decode')
})

t.test('selfTimes: each sample lasts until the next, inside the window only', async t => {
  const profile = syntheticProfile()
  t.strictSame(Object.fromEntries(selfTimes(profile)), { 3: 10, 9: 20, 6: 30, 7: 40, 8: 100, 4: 50 })
  t.strictSame(Object.fromEntries(selfTimes(profile, 1_000_010, 1_000_100)), { 9: 20, 6: 30, 7: 40 })
})

t.test('summarizeProfile: ms per stage and % of the non-idle time', async t => {
  const summary = summarizeProfile(syntheticProfile())
  const byStage = Object.fromEntries(summary.stages.map(stage => [stage.stage, stage]))
  t.equal(summary.totalMs, 0.25)
  t.equal(summary.nonIdleMs, 0.15)
  t.equal(byStage.auth.ms, 0.07)
  t.equal(Math.round(byStage.auth.percent ?? 0), 47)
  t.equal(byStage.HTTP.ms, 0.01)
  t.equal(byStage.decode.ms, 0.03)
  t.equal(byStage.GC.ms, 0.04)
  t.equal(byStage.idle.ms, 0.1)
  t.equal(byStage.idle.percent, undefined, 'idle is no share of the non-idle time')
  t.equal(summary.top[0].functionName, 'verify', 'the function with the most self time first')
  t.notOk(summary.top.some(entry => entry.stage === 'idle'), 'idle is not a function to look at')
  t.equal(summary.window, undefined)

  const windowed = summarizeProfile(syntheticProfile(), { fromUs: 1_000_010, toUs: 1_000_100, top: 2 })
  t.equal(windowed.totalMs, 0.09)
  t.equal(windowed.top.length, 2)
  t.strictSame(windowed.window, { fromUs: 1_000_010, toUs: 1_000_100, covered: true })
  t.equal(summarizeProfile(syntheticProfile(), { fromUs: 0, toUs: 1_000_100 }).window?.covered, false)
})

t.test('formatProfileSummary prints the stage table and the top functions', async t => {
  const text = formatProfileSummary(summarizeProfile(syntheticProfile()), 'main thread')
  t.match(text, /\*\*main thread\*\*: 0 ms on CPU of 0 ms sampled/)
  t.match(text, /\| auth \| 0\.1 \| 46\.7 \|/)
  t.match(text, /\| idle \| 0\.1 \| - \|/)
  t.notMatch(text, /\| program \|/, 'program is left out when empty')
  t.match(text, /\| `verify` fast-jwt\/src\/verifier\.js \| auth \| 0\.1 \|/)
  t.match(text, /\| `decode` lib\/tensors\/tensor-json\.js \| decode \|/)
})

t.test('the script summarizes a .cpuprofile file', async t => {
  const dir = t.testdir()
  const file = join(dir, 'x.cpuprofile')
  writeFileSync(file, JSON.stringify(syntheticProfile()))
  const run = promisify(execFile)
  const { stdout } = await run(process.execPath, [...process.execArgv, script, file, '--from', '1000010', '--to', '1000100', '--top', '3'])
  t.match(stdout, /0 ms on CPU of 0 ms sampled/)
  t.match(stdout, /\| auth \| 0\.0 \| 22\.2 \|/, 'only the window: 20 µs of auth in 90')
  const failed = await run(process.execPath, [...process.execArgv, script]).then(() => undefined, (error: { code: number, stderr: string }) => error)
  t.equal(failed?.code, 1, 'no file: exit 1')
  t.match(failed?.stderr, /usage: profile-summary FILE\.cpuprofile/)
})
