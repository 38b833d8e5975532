// A small typed layer over onnx-proto so scripts and tests can write ONNX graphs readably.
import { onnx } from 'onnx-proto'

// Element type codes from onnx.TensorProto.DataType
export const ElemType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13
} as const
export type ElemTypeCode = typeof ElemType[keyof typeof ElemType]

// A fixed size, or a name for a symbolic (dynamic) size such as 'batch'
export type Dim = number | string

export interface Opset {
  domain: string
  version: number
}

export const DEFAULT_DOMAIN = ''
export const ML_DOMAIN = 'ai.onnx.ml'
export const DEFAULT_OPSET: Opset = { domain: DEFAULT_DOMAIN, version: 15 }
// IR 8 is the newest version the bundled onnx.proto (ONNX 1.10) describes
export const DEFAULT_IR_VERSION = 8

function shapeOf (dims: Dim[]): onnx.ITensorShapeProto {
  return {
    dim: dims.map(dim => typeof dim === 'string' ? { dimParam: dim } : { dimValue: dim })
  }
}

function tensorType (elemType: ElemTypeCode, dims?: Dim[]): onnx.ITypeProto {
  return { tensorType: dims === undefined ? { elemType } : { elemType, shape: shapeOf(dims) } }
}

export function tensorInput (name: string, elemType: ElemTypeCode, dims: Dim[]): onnx.IValueInfoProto {
  return { name, type: tensorType(elemType, dims) }
}

export function tensorOutput (name: string, elemType: ElemTypeCode, dims: Dim[]): onnx.IValueInfoProto {
  return { name, type: tensorType(elemType, dims) }
}

// The output type skl2onnx's ZipMap produces: one {classLabel: probability} map per row
export function sequenceOfMapsOutput (
  name: string,
  keyType: ElemTypeCode = ElemType.INT64,
  valueType: ElemTypeCode = ElemType.FLOAT
): onnx.IValueInfoProto {
  return {
    name,
    type: { sequenceType: { elemType: { mapType: { keyType, valueType: tensorType(valueType) } } } }
  }
}

function checkedDims (name: string, dims: number[], valueCount: number): number[] {
  const expected = dims.reduce((product, dim) => product * dim, 1)
  if (expected !== valueCount) {
    throw new Error(`initializer ${name}: shape [${dims.join(',')}] needs ${expected} values, got ${valueCount}`)
  }
  return dims
}

// Values are stored as float32, so callers comparing against the graph should Math.fround them
export function floatInitializer (name: string, dims: number[], values: ArrayLike<number>): onnx.ITensorProto {
  return { name, dataType: ElemType.FLOAT, dims: checkedDims(name, dims, values.length), floatData: Array.from(values) }
}

export function doubleInitializer (name: string, dims: number[], values: ArrayLike<number>): onnx.ITensorProto {
  return { name, dataType: ElemType.DOUBLE, dims: checkedDims(name, dims, values.length), doubleData: Array.from(values) }
}

export function int64Initializer (name: string, dims: number[], values: ArrayLike<number>): onnx.ITensorProto {
  return { name, dataType: ElemType.INT64, dims: checkedDims(name, dims, values.length), int64Data: Array.from(values) }
}

const AttributeType = onnx.AttributeProto.AttributeType

export const attribute = {
  int: (name: string, value: number): onnx.IAttributeProto => ({ name, type: AttributeType.INT, i: value }),
  ints: (name: string, values: number[]): onnx.IAttributeProto => ({ name, type: AttributeType.INTS, ints: values }),
  float: (name: string, value: number): onnx.IAttributeProto => ({ name, type: AttributeType.FLOAT, f: value }),
  floats: (name: string, values: number[]): onnx.IAttributeProto => ({ name, type: AttributeType.FLOATS, floats: values }),
  string: (name: string, value: string): onnx.IAttributeProto =>
    ({ name, type: AttributeType.STRING, s: new TextEncoder().encode(value) })
}

export function node (
  opType: string,
  inputs: string[],
  outputs: string[],
  attributes: onnx.IAttributeProto[] = [],
  domain: string = DEFAULT_DOMAIN
): onnx.INodeProto {
  return { opType, input: inputs, output: outputs, attribute: attributes, domain }
}

export interface ModelSpec {
  graphName: string
  inputs: onnx.IValueInfoProto[]
  outputs: onnx.IValueInfoProto[]
  nodes: onnx.INodeProto[]
  initializers?: onnx.ITensorProto[]
  opsets?: Opset[]
  producerName?: string
  docString?: string
}

// No timestamps or versions go in, so equal specs always give equal bytes
export function encodeModel (spec: ModelSpec): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: DEFAULT_IR_VERSION,
    opsetImport: spec.opsets ?? [DEFAULT_OPSET],
    producerName: spec.producerName ?? 'onnx-serve',
    docString: spec.docString ?? '',
    graph: {
      name: spec.graphName,
      // Named nodes make onnxruntime's error messages point at the failing step
      node: spec.nodes.map((graphNode, index) => ({ name: `${graphNode.opType}_${index}`, ...graphNode })),
      input: spec.inputs,
      output: spec.outputs,
      initializer: spec.initializers ?? []
    }
  })
  return onnx.ModelProto.encode(model).finish()
}
