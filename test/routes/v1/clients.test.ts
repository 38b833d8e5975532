// TF Serving's and KServe V1's REST protocol, sent over a real socket the
// way their clients send it: the verb after a colon, a JSON body with
// `instances` (rows) or `inputs` (columns), and the model status they read
// from GET /v1/models/{name}.

import t from 'tap'
import { buildApp, devToken } from '../../helpers/build-app'

const setosa = [5.1, 3.5, 1.4, 0.2]
const virginica = [6.7, 3.0, 5.2, 2.3]
const available = { version: '1', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }

t.test('TF Serving and KServe V1 clients, unchanged', async t => {
  const app = await buildApp(t)
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${devToken()}` }
  const post = async (path: string, body: unknown): Promise<{ status: number, json: Record<string, unknown> }> => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers, body: JSON.stringify(body) })
    return { status: res.status, json: await res.json() as Record<string, unknown> }
  }
  const get = async (path: string): Promise<Record<string, unknown>> => (await fetch(`${base}${path}`, { headers })).json() as Promise<Record<string, unknown>>

  t.test('model status: TF Serving\'s model_version_status, KServe\'s ready', async t => {
    const status = await get('/v1/models/iris')
    t.strictSame(status.model_version_status, [available])
    t.equal(status.ready, true)
    t.equal(status.name, 'iris')
    t.strictSame((await get('/v1/models/iris/versions/1')).model_version_status, [available], 'one version')
  })

  t.test('rows: instances in, predictions out (signature_name as TF Serving clients send it)', async t => {
    const { status, json } = await post('/v1/models/iris:predict', { signature_name: 'serving_default', instances: [setosa, virginica] })
    t.equal(status, 200)
    const predictions = json.predictions as Array<{ label: number, probabilities: number[] }>
    t.strictSame(predictions.map(row => row.label), [0, 2], 'one object per row keyed by output name')
    t.equal(predictions[0].probabilities.length, 3)
    const versioned = await post('/v1/models/iris/versions/1:predict', { instances: [{ features: setosa }] })
    t.strictSame((versioned.json.predictions as Array<{ label: number }>)[0].label, 0, 'a row keyed by input name, a version in the path')
    const encoded = await post('/v1/models/iris%3Apredict', { instances: [setosa] })
    t.equal(encoded.status, 200, 'a percent-encoded colon too')
    const legacy = await post('/v1/models/iris/predict', { instances: [setosa] })
    t.strictSame(legacy.json, (await post('/v1/models/iris:predict', { instances: [setosa] })).json, '/predict after a slash is the same route')
  })

  t.test('columns: inputs in, outputs out', async t => {
    const single = await post('/v1/models/iris:predict', { inputs: [setosa, virginica] })
    t.equal(single.status, 200)
    const outputs = single.json.outputs as { label: number[], probabilities: number[][] }
    t.strictSame(outputs.label, [0, 2], 'one input: its whole batch')
    t.equal(outputs.probabilities.length, 2)
    const named = await post('/v1/models/iris:predict', { inputs: { features: [setosa] } })
    t.strictSame((named.json.outputs as { label: number[] }).label, [0], 'keyed by input name')
    const width = await post('/v1/models/iris-petal-width:predict', { inputs: [[5.1, 3.5, 1.4]] })
    t.equal(width.status, 200)
    const [[petal]] = width.json.outputs as number[][]
    t.ok(petal > 0 && petal < 0.6, `one output: the value itself (${petal})`)
  })

  t.test('refusals in Fastify\'s error shape; unknown verbs are 404', async t => {
    const bad = await post('/v1/models/iris:predict', { instances: [[1, 2]] })
    t.equal(bad.status, 400)
    t.equal(bad.json.message, 'instances[0]: expected an array of 4 (row shape [4] of float32), received an array of 2')
    t.equal((await post('/v1/models/iris:classify', { instances: [setosa] })).status, 404, ':classify and :regress are not served')
    t.equal((await post('/v1/models/nope:predict', { instances: [setosa] })).status, 404)
  })
})
