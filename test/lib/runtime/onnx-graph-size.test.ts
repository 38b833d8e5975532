import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { graphNodeCount } from '../../../lib/runtime/onnx-graph-size'
import { ElemType, encodeModel, floatInitializer, node, tensorInput, tensorOutput } from '../../../scripts/onnx-graph'
import { bundledRepository } from '../../helpers/build-app'

function chain (nodes: number): Uint8Array {
  return encodeModel({
    graphName: 'chain',
    inputs: [tensorInput('x', ElemType.FLOAT, ['batch', 4])],
    outputs: [tensorOutput('y', ElemType.FLOAT, ['batch', 4])],
    // An initializer and value infos sit beside the nodes in the graph: not counted.
    initializers: [floatInitializer('w', [4], [1, 2, 3, 4])],
    nodes: Array.from({ length: nodes }, (_, i) => node('Relu', [i === 0 ? 'x' : `h${i - 1}`], [i === nodes - 1 ? 'y' : `h${i}`]))
  })
}

t.test('the main graph\'s nodes are counted from the wire format', async t => {
  t.equal(graphNodeCount(chain(1)), 1)
  t.equal(graphNodeCount(chain(300)), 300)
  t.equal(graphNodeCount(chain(20_000)), 20_000)
  const iris = graphNodeCount(readFileSync(join(bundledRepository, 'iris', '1', 'model.onnx')))
  t.ok(iris !== undefined && iris > 0 && iris < 50, `the bundled iris: ${iris} nodes`)
})

t.test('bytes that are not a model give no count', async t => {
  t.equal(graphNodeCount(new Uint8Array(0)), undefined, 'empty')
  t.equal(graphNodeCount(Buffer.from('not a model at all')), undefined, 'text')
  const model = chain(10)
  t.equal(graphNodeCount(model.subarray(0, model.length >> 1)), undefined, 'cut short inside the graph')
  t.equal(graphNodeCount(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), undefined, 'a varint that never ends')
})
