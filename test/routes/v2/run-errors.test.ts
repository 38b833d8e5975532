// Values only the model can judge (an index past an embedding's rows) fail
// the run: a 400 with the runtime's reason, never a 500 with a stack; in a
// merged batch only the request that caused it fails.

import t from 'tap'
import { ElemType, encodeModel, floatInitializer, node, tensorInput, tensorOutput } from '../../../scripts/onnx-graph'
import { buildApp } from '../../helpers/build-app'
import { writeModelFolder } from '../../helpers/fixture-repository'
import { runFailure } from '../../../lib/runtime/ort-session'
import { ModelRunError } from '../../../lib/errors'

/** An embedding of 5 rows of 2: ids int64 [batch, 1] → vectors float [batch, 1, 2]. */
function embedding (): Uint8Array {
  return encodeModel({
    graphName: 'embedding',
    inputs: [tensorInput('ids', ElemType.INT64, ['batch', 1])],
    outputs: [tensorOutput('vectors', ElemType.FLOAT, ['batch', 1, 2])],
    initializers: [floatInitializer('table', [5, 2], [0, 0, 1, 1, 2, 2, 3, 3, 4, 4])],
    nodes: [node('Gather', ['table', 'ids'], ['vectors'])]
  })
}

const body = (id: number): object => ({ inputs: [{ name: 'ids', shape: [1, 1], datatype: 'INT64', data: [id] }] })

for (const placement of ['inline', 'worker']) {
  t.test(`${placement}: an index out of the embedding's range is a 400 naming the reason; the rest of its batch is served`, async t => {
    const repository = t.testdir()
    writeModelFolder(repository, 'embedding', embedding(), { max_batch_size: 8, dynamic_batching: { max_queue_delay_ms: 20 } })
    const app = await buildApp(t, { MODEL_REPOSITORY: repository, INFERENCE_PLACEMENT: placement })
    const infer = async (id: number): Promise<{ status: number, json: Record<string, unknown> }> => {
      const res = await app.inject({ method: 'POST', url: '/v2/models/embedding/infer', payload: body(id) })
      return { status: res.statusCode, json: res.json() }
    }
    t.match(await infer(3), { status: 200, json: { outputs: [{ name: 'vectors', data: [3, 3] }] } })

    const bad = await infer(10)
    t.equal(bad.status, 400)
    t.match(bad.json.error, /^inputs: the model could not run on these values: .*out of data bounds/)
    t.notMatch(bad.json.error, /\/\w+\//, 'no path of the server\'s in it')
    t.comment(String(bad.json.error))

    // Two requests merged into one run: only the one with the bad index fails.
    const [good, refused] = await Promise.all([infer(1), infer(7)])
    t.match(good, { status: 200, json: { outputs: [{ data: [1, 1] }] } }, 'its neighbour in the batch is served')
    t.equal(refused.status, 400)
    t.equal((await app.inject({ method: 'POST', url: '/v1/models/embedding:predict', payload: { instances: [[9]] } })).statusCode, 400, 'the same on /v1')
  })
}

t.test('runFailure: the runtime\'s own faults stay server errors, paths are cut from the rest', async t => {
  const refused = runFailure(new Error('Non-zero status code returned while running Gather node. Name:\'g\' Status Message: /onnxruntime_src/onnxruntime/core/providers/cpu/tensor/gather.cc:99 indices element out of data bounds'))
  t.ok(refused instanceof ModelRunError)
  t.equal(refused.message, 'inputs: the model could not run on these values: Non-zero status code returned while running Gather node. Name:\'g\' Status Message: gather.cc:99 indices element out of data bounds')
  const fault = new Error('Failed to allocate memory for requested buffer of size 123456789')
  t.equal(runFailure(fault), fault, 'an allocation failure is not the client\'s')
})
