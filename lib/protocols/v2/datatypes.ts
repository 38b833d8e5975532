// The protocol's datatype names (FP32, INT64, BYTES, …) and their sizes in
// the binary formats (Triton's binary tensor data extension over HTTP,
// raw_input_contents over gRPC).

import { tensorTypes, type TensorType } from '../../tensors/tensor'

const typesByDatatype = new Map<string, TensorType>(
  (Object.keys(tensorTypes) as TensorType[]).map(type => [tensorTypes[type].datatype, type])
)

/** The v2 datatype name of a tensor type: FP32, INT64, BOOL, BYTES, … */
export function v2DatatypeOf (type: TensorType): string {
  return tensorTypes[type].datatype
}

/** The tensor type of a v2 datatype name (exact, upper case), or undefined. */
export function tensorTypeOfV2 (datatype: string): TensorType | undefined {
  return typesByDatatype.get(datatype)
}

const elementSizes: Record<TensorType, number | undefined> = {
  float16: 2,
  float32: 4,
  float64: 8,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  uint8: 1,
  uint16: 2,
  uint32: 4,
  uint64: 8,
  bool: 1,
  string: undefined
}

/** Bytes per element in the binary format; undefined for BYTES, whose elements vary. */
export function v2ElementSize (type: TensorType): number | undefined {
  return elementSizes[type]
}
