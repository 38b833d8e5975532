// A model that returns each of its inputs unchanged, one per element type
// the protocol names, for conformance tests of every datatype over HTTP.

import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ElemType, encodeModel, node, tensorInput, tensorOutput } from '../../scripts/onnx-graph'

/** Input names (and output `<name>_out`), each of the v2 datatype it is named after. */
export const identityTypes = {
  BOOL: ElemType.BOOL,
  UINT8: ElemType.UINT8,
  UINT16: ElemType.UINT16,
  UINT32: ElemType.UINT32,
  UINT64: ElemType.UINT64,
  INT8: ElemType.INT8,
  INT16: ElemType.INT16,
  INT32: ElemType.INT32,
  INT64: ElemType.INT64,
  FP16: ElemType.FLOAT16,
  FP32: ElemType.FLOAT,
  FP64: ElemType.DOUBLE,
  BYTES: ElemType.STRING
} as const

/** Writes `<dir>/<name>/1/model.onnx`: every input [batch, 2] copied to its output. */
export function writeIdentityModel (dir: string, name = 'identity'): void {
  const names = Object.keys(identityTypes) as Array<keyof typeof identityTypes>
  const model = encodeModel({
    graphName: 'identity',
    inputs: names.map(type => tensorInput(type, identityTypes[type], ['batch', 2])),
    outputs: names.map(type => tensorOutput(`${type}_out`, identityTypes[type], ['batch', 2])),
    nodes: names.map(type => node('Identity', [type], [`${type}_out`]))
  })
  mkdirSync(join(dir, name, '1'), { recursive: true })
  writeFileSync(join(dir, name, '1', 'model.onnx'), model)
}
