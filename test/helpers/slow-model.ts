// A model whose runs take long enough (tens to hundreds of ms) to keep the
// inference workers busy, for tests of liveness, queueing and shutdown.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ElemType, encodeModel, floatInitializer, node, tensorInput, tensorOutput } from '../../scripts/onnx-graph'

export const SLOW_WIDTH = 512

/** Writes `<dir>/<name>/1/model.onnx`: `layers` MatMul+Tanh of width 512 over x float32 [batch, 512]. */
export function writeSlowModel (dir: string, name = 'slow', layers = 128): void {
  // One shared weight keeps the file small; the work grows with the layers.
  const weights = Array.from({ length: SLOW_WIDTH * SLOW_WIDTH }, (_, i) => Math.sin(i) / SLOW_WIDTH)
  const nodes = []
  let previous = 'x'
  for (let i = 0; i < layers; i++) {
    const out = i === layers - 1 ? 'y' : `h${i}`
    nodes.push(node('MatMul', [previous, 'w'], [`m${i}`]), node('Tanh', [`m${i}`], [out]))
    previous = out
  }
  const model = encodeModel({
    graphName: 'slow',
    inputs: [tensorInput('x', ElemType.FLOAT, ['batch', SLOW_WIDTH])],
    outputs: [tensorOutput('y', ElemType.FLOAT, ['batch', SLOW_WIDTH])],
    initializers: [floatInitializer('w', [SLOW_WIDTH, SLOW_WIDTH], weights)],
    nodes
  })
  mkdirSync(join(dir, name, '1'), { recursive: true })
  writeFileSync(join(dir, name, '1', 'model.onnx'), model)
  writeFileSync(join(dir, name, 'config.json'), JSON.stringify({ max_batch_size: 1024 }))
}

/** A repository holding only the slow model, removed after the test. */
export function slowRepository (t: { teardown: (fn: () => unknown) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'onnx-serve-slow-'))
  writeSlowModel(dir)
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A v1 instances body of `rows` rows for the slow model. */
export const slowRows = (rows: number): string => JSON.stringify({ instances: Array.from({ length: rows }, () => new Array(SLOW_WIDTH).fill(0.25)) })
