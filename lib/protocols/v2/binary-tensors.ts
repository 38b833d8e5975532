// Tensors as the protocol's binary format has them, the same over HTTP (the
// binary tensor data extension) and gRPC (raw contents): elements
// little-endian, back to back; BYTES elements each a 4-byte little-endian
// length, then that many bytes of UTF-8.
//
// Bytes are copied into fresh typed arrays, never viewed in place: a Buffer
// may be a view of Node's shared pool, or sit at an offset a typed array of
// its element size cannot start at. Typed arrays use the platform's order:
// onnxruntime-node only ships for little-endian platforms (x64, arm64).

import { InputError } from '../../errors'
import { NUL_PROBLEM, tensorTypes, type TensorArray, type TensorData, type TensorSpec } from '../../tensors/tensor'

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** BYTES elements from their binary form; `field` names the input in refusals, `source` where its bytes came. */
function decodeStrings (chunk: Buffer, count: number, field: string, source: string): string[] {
  const data = new Array<string>(count)
  const problem = `${field}: binary BYTES data of ${chunk.length} bytes (${source})`
  let offset = 0
  for (let i = 0; i < count; i++) {
    if (chunk.length - offset < 4) {
      throw new InputError(field, `${problem} ends inside the 4-byte length of element ${i}; expected ${count} elements`)
    }
    const length = chunk.readUInt32LE(offset)
    offset += 4
    if (chunk.length - offset < length) {
      throw new InputError(field, `${problem}: element ${i} declares ${length} bytes, but only ${chunk.length - offset} remain`)
    }
    try {
      data[i] = utf8.decode(chunk.subarray(offset, offset + length))
    } catch {
      throw new InputError(field, `${field}: binary BYTES element ${i} is not valid UTF-8; this server takes BYTES as UTF-8 text`)
    }
    if (data[i].includes('\0')) throw new InputError(field, `${field}: binary BYTES element ${i}: expected ${NUL_PROBLEM}`)
    offset += length
  }
  if (offset !== chunk.length) {
    throw new InputError(field, `${problem} holds ${chunk.length - offset} bytes more than its ${count} elements`)
  }
  return data
}

/**
 * The `count` elements of an input of `spec` from their binary form (its
 * byte length already checked for fixed-size types); `source` says where
 * the bytes came, for refusals.
 */
export function decodeBinaryTensor (chunk: Buffer, spec: TensorSpec, count: number, field: string, source: string): TensorArray {
  if (spec.type === 'string') return decodeStrings(chunk, count, field, source)
  const data = tensorTypes[spec.type].create(count) as Exclude<TensorArray, string[]>
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  bytes.set(chunk)
  if (spec.type === 'bool') {
    const bad = bytes.findIndex(byte => byte > 1)
    if (bad >= 0) {
      throw new InputError(field, `${field}: binary BOOL element ${bad} is the byte ${bytes[bad]}; expected 0 (false) or 1 (true)`)
    }
  }
  return data
}

/** The tensor's bytes in the binary format. */
export function encodeBinaryTensor (tensor: TensorData): Buffer {
  const data = tensor.data
  if (!Array.isArray(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  const parts: Buffer[] = []
  for (const element of data) {
    const bytes = Buffer.from(element, 'utf8')
    const length = Buffer.allocUnsafe(4)
    length.writeUInt32LE(bytes.length)
    parts.push(length, bytes)
  }
  return Buffer.concat(parts)
}
