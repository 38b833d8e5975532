// A model whose file is small but whose session takes seconds to open: a
// chain of element-wise operators, for the tests of loads while serving.

import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ElemType, encodeModel, node, tensorInput, tensorOutput } from '../../scripts/onnx-graph'

/** Writes `<dir>/large-graph/1/model.onnx`, a chain of `nodes` Relu and Neg over x: [batch, 4], and returns its path. */
export function writeLargeGraph (dir: string, nodes: number): string {
  const chain = Array.from({ length: nodes }, (_, i) => node(i % 2 === 0 ? 'Relu' : 'Neg', [i === 0 ? 'x' : `h${i - 1}`], [i === nodes - 1 ? 'y' : `h${i}`]))
  const model = encodeModel({
    graphName: 'large-graph',
    inputs: [tensorInput('x', ElemType.FLOAT, ['batch', 4])],
    outputs: [tensorOutput('y', ElemType.FLOAT, ['batch', 4])],
    initializers: [],
    nodes: chain
  })
  const file = join(dir, 'large-graph', '1', 'model.onnx')
  mkdirSync(join(dir, 'large-graph', '1'), { recursive: true })
  writeFileSync(file, model)
  return file
}
