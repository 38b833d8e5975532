import t from 'tap'
import { BenchArgsError, parseBenchArgs, serverNodeArgs } from '../../bench/lib/args'
import { MODELS } from '../../bench/lib/models'
import { WARMUP_MAX_SECONDS, WARMUP_MIN_REQUESTS, moreWarmupSeconds } from '../../bench/lib/load'
import { bodyPool, describeScenario, loadTarget, randomRows, requestBody, requestShape, scenarioPath, scenariosFor, targetName } from '../../bench/lib/scenarios'

const defaults = { node: '/usr/bin/node', outDir: '/srv/bench/results' }

t.test('defaults: every scenario, 10 s runs after a 2 s warm-up, one inference thread', async t => {
  t.strictSame(parseBenchArgs([], defaults), {
    seconds: 10,
    warmupSeconds: 2,
    groups: ['small', 'large', 'iris'],
    own: undefined,
    smallConnections: [1, 10, 64],
    generators: ['autocannon', 'wrk', 'grpc'],
    inferenceThreads: 1,
    placement: 'auto',
    node: '/usr/bin/node',
    memoryLimitMb: undefined,
    soakSeconds: 0,
    cache: false,
    profile: false,
    port: 0,
    outDir: '/srv/bench/results',
    label: undefined,
    keep: false,
    help: false
  })
})

t.test('every flag', async t => {
  const options = parseBenchArgs(['--seconds', '2', '--warmup', '0', '--scenarios', 'small,iris-v2,small', '--connections', '64,1', '--generators', 'wrk',
    '--inference-threads', '2', '--node', '/tmp/node24/bin/node', '--memory-limit', '2048', '--soak', '20', '--profile', '--port', '4000', '--out', '/tmp/out',
    '--label', 'after-fix.1', '--keep', '-h', '--repository', '/srv/models', '--model', 'mine'], defaults)
  t.strictSame(options, {
    seconds: 2,
    warmupSeconds: 0,
    groups: ['small', 'iris-v2'],
    own: { repository: '/srv/models', model: 'mine' },
    smallConnections: [1, 64],
    generators: ['wrk'],
    inferenceThreads: 2,
    placement: 'auto',
    node: '/tmp/node24/bin/node',
    memoryLimitMb: 2048,
    soakSeconds: 20,
    cache: false,
    profile: true,
    port: 4000,
    outDir: '/tmp/out',
    label: 'after-fix.1',
    keep: true,
    help: true
  })
})

t.test('--repository and --model: the user\'s model, measured in the own scenarios', async t => {
  const options = parseBenchArgs(['--repository', '/srv/models', '--model', 'digits'], defaults)
  t.strictSame(options.own, { repository: '/srv/models', model: 'digits' })
  t.strictSame(options.groups, ['own'], 'only the user\'s model unless --scenarios says more')
  t.strictSame(parseBenchArgs(['--repository', 'r', '--model', 'm', '--scenarios', 'own,small'], defaults).groups, ['own', 'small'])
  t.throws(() => parseBenchArgs(['--model', 'digits'], defaults), /--repository and --model go together/)
  t.throws(() => parseBenchArgs(['--scenarios', 'own'], defaults), /--scenarios own measures your model: give --repository DIR --model NAME/)
  t.strictSame(scenariosFor(['own'], [1, 10], ['autocannon', 'wrk']).map(scenario => scenario.id), ['own-c1', 'own-c10', 'own-c1-wrk', 'own-c10-wrk'], 'swept like the small model')
})

t.test('--memory-limit: every server\'s heap sized as Node sizes it under a container limit', async t => {
  t.strictSame(serverNodeArgs(parseBenchArgs([], defaults)), [], 'Node\'s own sizing by default')
  t.strictSame(serverNodeArgs(parseBenchArgs(['--memory-limit', '2048'], defaults)), ['--max-old-space-size=512'], 'a quarter, as Node gives the old space')
  t.strictSame(serverNodeArgs({ memoryLimitMb: 1000 }), ['--max-old-space-size=250'])
  t.strictSame(serverNodeArgs({ memoryLimitMb: 259 }), ['--max-old-space-size=64'], 'whole MiB')
})

t.test('--cache', async t => {
  t.equal(parseBenchArgs(['--cache'], defaults).cache, true)
})

t.test('bad values are refused with the flag named', async t => {
  const refused: Array<[string[], RegExp]> = [
    [['--seconds', '0'], /--seconds "0" is invalid; expected an integer from 1 to 3600/],
    [['--seconds', '1.5'], /--seconds "1\.5" is invalid/],
    [['--warmup', '-1'], /--warmup/],
    [['--connections', '10,x'], /--connections "x" is invalid/],
    [['--connections', '0'], /--connections "0" is invalid/],
    [['--inference-threads', '0'], /--inference-threads/],
    [['--scenarios', 'small,huge'], /unknown scenario "huge"; expected some of small, digits, large, iris, iris-predict, iris-v1, iris-v2/],
    [['--soak', '3'], /--soak must be at least 4 seconds/],
    [['--memory-limit', '100'], /--memory-limit "100" is invalid; expected an integer from 256 to 1048576/],
    [['--memory-limit', '2G'], /--memory-limit "2G" is invalid/],
    [['--generators', 'autocannon,ab'], /--generators: unknown load generator "ab"; expected some of autocannon, wrk, grpc/],
    [['--placement', 'gpu'], /--placement must be auto, inline or worker, not 'gpu'/],
    [['--soak', '10', '--cache'], /--soak and --cache are separate runs/],
    [['--port', '70000'], /--port/],
    [['--label', 'a/b'], /--label may hold letters/],
    [['--frobnicate'], /Unknown option '--frobnicate'/],
    [['stray'], /Unexpected argument 'stray'/]
  ]
  for (const [argv, message] of refused) t.throws(() => parseBenchArgs(argv, defaults), { constructor: BenchArgsError, message }, argv.join(' '))
})

t.test('scenariosFor: the groups in a fixed order', async t => {
  t.strictSame(scenariosFor(['iris', 'large', 'small']).map(scenario => scenario.id),
    ['small-c1', 'small-c10', 'small-c64', 'large-c64', 'iris-predict-c10', 'iris-v1-c10', 'iris-v2-c10'])
  t.strictSame(scenariosFor(['iris-v1', 'small'], [10]).map(scenario => scenario.id), ['small-c10', 'iris-v1-c10'])
  t.strictSame(scenariosFor(['digits', 'small'], [1, 64]).map(scenario => scenario.id), ['small-c1', 'small-c64', 'digits-c1', 'digits-c64'], 'the digits MLP takes the small one\'s connections')
  t.strictSame(scenariosFor(['large'])[0], { id: 'large-c64', model: 'large', connections: 64, route: 'predict', generator: 'autocannon' })
  t.equal(describeScenario(scenariosFor(['iris-v2'])[0]), 'iris /v2/models/iris/infer · 10 conn · autocannon')
  t.strictSame(scenariosFor(['small', 'large', 'iris-v2'], [1, 10], ['autocannon', 'wrk']).map(scenario => `${scenario.id}/${scenario.generator}`),
    ['small-c1/autocannon', 'small-c10/autocannon', 'small-c1-wrk/wrk', 'small-c10-wrk/wrk', 'large-c64/autocannon', 'iris-v2-c10/autocannon'],
    'the small and digits scenarios run under each generator, the others under autocannon')
})

t.test('each target is sent its own shape of the same rows', async t => {
  const [v1] = scenariosFor(['iris-v1'])
  t.strictSame(requestShape('onnx-serve', v1), { path: '/v1/models/iris:predict', kind: 'v1' })
  t.strictSame(requestShape('echo', v1), { path: '/v1/models/iris:predict', kind: 'v1' }, 'the echo gets what onnx-serve gets')
  t.strictSame(requestShape('naive', v1), { path: '/predict', kind: 'naive' })
  const row = [5.1, 3.5, 1.4, 0.2]
  t.strictSame(requestBody('predict', MODELS.iris, row), { input_data: row })
  t.strictSame(requestBody('v1', MODELS.iris, row), { instances: [row] })
  t.strictSame(requestBody('v2', MODELS.iris, row), { inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: row }] })
  t.strictSame(requestBody('naive', MODELS.iris, row), { input_data: [row] })
})

t.test('random rows: fresh per request, the same for a seed, in the model\'s ranges', async t => {
  const rows = randomRows(MODELS.small, 100, 7)
  t.equal(rows.length, 100)
  t.ok(rows.every(row => row.length === 64 && row.every(value => value >= -1 && value <= 1)))
  t.equal(new Set(rows.map(row => row.join())).size, 100, 'no two rows alike')
  t.strictSame(randomRows(MODELS.small, 100, 7), rows, 'deterministic')
  t.notSame(randomRows(MODELS.small, 1, 8)[0], rows[0], 'another seed, other rows')
  const iris = randomRows(MODELS.iris, 200, 7)
  t.ok(iris.every(([sepalLength, sepalWidth, petalLength, petalWidth]) =>
    sepalLength >= 4.3 && sepalLength <= 7.9 && sepalWidth >= 2 && sepalWidth <= 4.4 &&
    petalLength >= 1 && petalLength <= 6.9 && petalWidth >= 0.1 && petalWidth <= 2.5), 'iris rows within the data set\'s ranges')
  const bodies = bodyPool('v2', MODELS.iris, 3, 7)
  t.strictSame(JSON.parse(bodies[0]), requestBody('v2', MODELS.iris, iris[0]))
})

t.test('--generators grpc: onnx-serve over gRPC beside HTTP, for the swept models and the large one', async t => {
  t.strictSame(parseBenchArgs(['--generators', 'grpc,autocannon'], defaults).generators, ['grpc', 'autocannon'])
  const scenarios = scenariosFor(['small', 'large', 'iris-v1'], [10, 64], ['autocannon', 'grpc'])
  t.strictSame(scenarios.map(scenario => `${scenario.id}/${scenario.generator}`),
    ['small-c10/autocannon', 'small-c64/autocannon', 'small-c10-grpc/grpc', 'small-c64-grpc/grpc', 'large-c64/autocannon', 'large-c64-grpc/grpc', 'iris-v1-c10/autocannon'],
    'the large model gets a grpc row beside its HTTP one; iris stays HTTP')
  t.strictSame(scenariosFor(['large'], [10], ['wrk']).map(scenario => scenario.id), ['large-c64'], 'no grpc row unless asked for')
  t.strictSame(scenariosFor(['digits', 'own'], [10], ['grpc']).map(scenario => scenario.id), ['digits-c10-grpc', 'own-c10-grpc'])

  const [small, , smallGrpc, , , largeGrpc] = scenarios
  t.equal(describeScenario(smallGrpc), 'mlp-small inference.GRPCInferenceService/ModelInfer · 10 conn · grpc')
  t.equal(scenarioPath(largeGrpc), 'inference.GRPCInferenceService/ModelInfer')
  t.equal(scenarioPath(small), '/predict')
  t.equal(targetName('echo', 'grpc'), 'grpc-js echo')
  t.equal(targetName('echo', 'wrk'), 'Fastify echo')
  t.equal(targetName('naive', 'grpc'), 'naive handler')

  const ports = { port: 8000, grpcPort: 8001 }
  t.strictSame(loadTarget(ports, 'onnx-serve', smallGrpc), { url: 'grpc://127.0.0.1:8001', kind: 'predict', generator: 'grpc' })
  t.strictSame(loadTarget(ports, 'echo', smallGrpc), { url: 'grpc://127.0.0.1:8001', kind: 'predict', generator: 'grpc' }, 'every server of a grpc scenario is called over gRPC')
  t.strictSame(loadTarget(ports, 'naive', smallGrpc), { url: 'grpc://127.0.0.1:8001', kind: 'naive', generator: 'grpc' })
  t.strictSame(loadTarget(ports, 'onnx-serve', small), { url: 'http://127.0.0.1:8000/predict', kind: 'predict', generator: 'autocannon' })
  t.strictSame(loadTarget(ports, 'naive', { ...small, generator: 'wrk' }), { url: 'http://127.0.0.1:8000/predict', kind: 'naive', generator: 'wrk' })
  t.throws(() => loadTarget({ port: 8000, grpcPort: 0 }, 'echo', smallGrpc), /small-c10-grpc: no gRPC port/)
})

t.test('the warm-up goes on until enough requests were answered, within its cap', async t => {
  t.equal(moreWarmupSeconds(WARMUP_MIN_REQUESTS, 2), 0, 'enough answered')
  t.equal(moreWarmupSeconds(1400, 2), 13, 'a gRPC call at one connection: 700 a second')
  t.equal(moreWarmupSeconds(100, 2), WARMUP_MAX_SECONDS - 2, 'capped')
  t.equal(moreWarmupSeconds(10, WARMUP_MAX_SECONDS), 0, 'already at the cap')
  t.equal(moreWarmupSeconds(0, 2), 0, 'nothing answered: more would warm nothing')
})
