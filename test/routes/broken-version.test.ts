// A junk newest version beside a good one, at start: the model serves the
// version that loads, readiness is 200, and the failure is reported (index,
// metric, log), instead of the model going down as Triton's would.

import { cpSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { buildApp, bundledRepository } from '../helpers/build-app'
import { parse, valueOf } from '../helpers/metrics'

t.test('a junk 2/model.onnx beside a good 1/: version 1 serves, version 2 is reported', async t => {
  const repository = t.testdir()
  cpSync(join(bundledRepository, 'iris'), join(repository, 'iris'), { recursive: true })
  mkdirSync(join(repository, 'iris', '2'))
  writeFileSync(join(repository, 'iris', '2', 'model.onnx'), 'not a model')
  const app = await buildApp(t, { MODEL_REPOSITORY: repository })

  t.equal((await app.inject({ url: '/health/ready' })).statusCode, 200, 'ready')
  const infer = await app.inject({
    method: 'POST',
    url: '/v2/models/iris/infer',
    payload: { inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }] }
  })
  t.equal(infer.statusCode, 200)
  t.equal(infer.json<{ model_version: string }>().model_version, '1', 'served by the version that loads')
  t.equal((await app.inject({ url: '/v2/models/iris/versions/2' })).statusCode, 404, 'version 2 is not served')

  const index = (await app.inject({ method: 'POST', url: '/v2/repository/index', payload: {} })).json<Array<Record<string, string>>>()
  t.match(index, [
    { name: 'iris', version: '1', state: 'READY', reason: '' },
    { name: 'iris', version: '2', state: 'UNAVAILABLE', reason: /^version 2: Load model from iris\/2\/model\.onnx failed:.*not a valid ONNX model/ }
  ])
  const status = (await app.inject({ url: '/v1/models/iris' })).json<{ served_versions: number[], failed_versions: Record<string, string>, model_version_status: Array<Record<string, unknown>> }>()
  t.same(status.served_versions, [1])
  t.match(status.failed_versions, { 2: /^version 2: .*not a valid ONNX model/ }, '/v1 says which version failed, and why')
  t.match(status.model_version_status, [
    { version: '1', state: 'AVAILABLE' },
    { version: '2', state: 'END', status: { error_code: 'UNKNOWN', error_message: /^version 2: / } }
  ], 'TF Serving\'s status for a version that failed to load')
  const metrics = parse((await app.inject({ url: '/metrics' })).body)
  t.equal(valueOf(metrics, 'onnx_serve_model_versions_failed', { model: 'iris' }), 1)
  t.equal(valueOf(metrics, 'onnx_serve_model_state', { model: 'iris', state: 'READY' }), 1)
})
