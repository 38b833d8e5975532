// Tensors as they cross the worker boundary: plain data that structured clone
// copies (or transfers) and that onnxruntime's Tensor constructor accepts.

export type TensorType =
  | 'float16' | 'float32' | 'float64'
  | 'int8' | 'int16' | 'int32' | 'int64'
  | 'uint8' | 'uint16' | 'uint32' | 'uint64'
  | 'bool' | 'string'

export type TensorArray =
  | Float32Array | Float64Array
  | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array
  | string[]

export interface TensorData {
  type: TensorType
  dims: number[]
  data: TensorArray
}

export type TensorMap = Record<string, TensorData>

/** float16, float32 or float64. */
export function isFloatType (type: TensorType): boolean {
  return type === 'float16' || type === 'float32' || type === 'float64'
}

/** A signed or unsigned integer of any width. */
export function isIntegerType (type: TensorType): boolean {
  return /^u?int(8|16|32|64)$/.test(type)
}

/** An input or output as the model declares it; -1 marks a dynamic dimension. */
export interface TensorSpec {
  name: string
  type: TensorType
  shape: number[]
}

interface TypeInfo {
  /** KServe v2 / Triton datatype name. */
  datatype: string
  create: (length: number) => TensorArray
  /** Why a JSON value is not a valid element, or undefined when it is. */
  check: (value: unknown) => string | undefined
  /** Converts a checked JSON value to what the typed array stores. */
  toElement: (value: unknown) => number | bigint | string
}

const FLOAT32_MAX = 3.4028234663852886e38
const FLOAT16_MAX = 65504

function numberCheck (min: number, max: number, integer: boolean, label: string) {
  return (value: unknown): string | undefined => {
    if (typeof value !== 'number') return `a number (${label})`
    if (integer && !Number.isInteger(value)) return `an integer (${label})`
    if (value < min || value > max) return `a number within ${label} range [${min}, ${max}]`
    return undefined
  }
}

// JSON numbers are doubles, so a 64-bit integer past 2^53 has already been
// rounded by the parser: refuse those and accept exact decimal strings.
function bigIntCheck (min: bigint, max: bigint, label: string) {
  return (value: unknown): string | undefined => {
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value)) {
        return Number.isInteger(value)
          ? `an integer within ±(2^53-1), or a decimal string for larger ${label} values (JSON numbers beyond 2^53 lose precision)`
          : `an integer (${label})`
      }
      return BigInt(value) < min || BigInt(value) > max ? `an integer within ${label} range [${min}, ${max}]` : undefined
    }
    if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) {
      const big = BigInt(value)
      return big < min || big > max ? `an integer within ${label} range [${min}, ${max}]` : undefined
    }
    return `an integer (${label})`
  }
}

/** onnxruntime keeps strings as C strings: one with a NUL would come back cut short, so it is refused. */
export const NUL_PROBLEM = 'a string without the NUL character (\\u0000), which onnxruntime cannot carry'

const toNumber = (value: unknown): number => value as number
const toBigInt = (value: unknown): bigint => BigInt(value as number | string)

export const tensorTypes: Record<TensorType, TypeInfo> = {
  float16: { datatype: 'FP16', create: n => new Uint16Array(n), check: numberCheck(-FLOAT16_MAX, FLOAT16_MAX, false, 'float16'), toElement: value => floatToHalfBits(value as number) },
  float32: { datatype: 'FP32', create: n => new Float32Array(n), check: numberCheck(-FLOAT32_MAX, FLOAT32_MAX, false, 'float32'), toElement: toNumber },
  float64: { datatype: 'FP64', create: n => new Float64Array(n), check: numberCheck(-Number.MAX_VALUE, Number.MAX_VALUE, false, 'float64'), toElement: toNumber },
  int8: { datatype: 'INT8', create: n => new Int8Array(n), check: numberCheck(-128, 127, true, 'int8'), toElement: toNumber },
  int16: { datatype: 'INT16', create: n => new Int16Array(n), check: numberCheck(-32768, 32767, true, 'int16'), toElement: toNumber },
  int32: { datatype: 'INT32', create: n => new Int32Array(n), check: numberCheck(-2147483648, 2147483647, true, 'int32'), toElement: toNumber },
  int64: { datatype: 'INT64', create: n => new BigInt64Array(n), check: bigIntCheck(-(2n ** 63n), 2n ** 63n - 1n, 'int64'), toElement: toBigInt },
  uint8: { datatype: 'UINT8', create: n => new Uint8Array(n), check: numberCheck(0, 255, true, 'uint8'), toElement: toNumber },
  uint16: { datatype: 'UINT16', create: n => new Uint16Array(n), check: numberCheck(0, 65535, true, 'uint16'), toElement: toNumber },
  uint32: { datatype: 'UINT32', create: n => new Uint32Array(n), check: numberCheck(0, 4294967295, true, 'uint32'), toElement: toNumber },
  uint64: { datatype: 'UINT64', create: n => new BigUint64Array(n), check: bigIntCheck(0n, 2n ** 64n - 1n, 'uint64'), toElement: toBigInt },
  bool: {
    datatype: 'BOOL',
    create: n => new Uint8Array(n),
    check: value => typeof value === 'boolean' ? undefined : 'a boolean (true or false)',
    toElement: value => value === true ? 1 : 0
  },
  string: {
    datatype: 'BYTES',
    create: n => new Array<string>(n).fill(''),
    check: value => typeof value !== 'string' ? 'a string' : value.includes('\0') ? NUL_PROBLEM : undefined,
    toElement: value => value as string
  }
}

/**
 * Below this size a buffer is cheaper to copy than to move: moving one costs
 * a few microseconds of its own, which a 256-byte row never repays.
 */
export const MIN_TRANSFER_BYTES = 16 * 1024

/**
 * Buffers to move rather than copy to another thread: only those a tensor
 * owns whole (a view into a pooled Buffer must be copied, or the pool would
 * be detached) of at least `minBytes`, and each once, since two tensors may share one.
 */
export function transferList (tensors: TensorMap | undefined, minBytes = MIN_TRANSFER_BYTES): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>()
  for (const tensor of Object.values(tensors ?? {})) {
    const data = tensor.data
    if (Array.isArray(data) || !(data.buffer instanceof ArrayBuffer) || data.byteLength < minBytes) continue
    if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) buffers.add(data.buffer)
  }
  return [...buffers]
}

export function isTensorType (type: string): type is TensorType {
  return Object.hasOwn(tensorTypes, type)
}

export function elementCount (dims: readonly number[]): number {
  return dims.reduce((count, dim) => count * dim, 1)
}

/** `[batch, 4]` style text for messages; -1 prints as its role. */
export function formatShape (shape: readonly number[]): string {
  return `[${shape.map(dim => dim < 0 ? '-1' : String(dim)).join(', ')}]`
}

/** Converts one stored element to JSON: 64-bit integers stay exact as strings beyond 2^53. */
export function elementToJson (type: TensorType, value: number | bigint | string): number | boolean | string {
  if (typeof value === 'bigint') {
    return value >= -BigInt(Number.MAX_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value.toString()
  }
  if (type === 'bool') return value === 1
  if (type === 'float16') return halfBitsToFloat(value as number)
  return value
}

// Node 20 has no Float16Array: onnxruntime takes float16 data as raw bits.
// Converts straight from the double, rounding to nearest with ties to even as
// IEEE 754 (and numpy) do; going through float32 first would round twice.
export function floatToHalfBits (value: number): number {
  if (Number.isNaN(value)) return 0x7e00
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0
  const abs = Math.abs(value)
  // Halfway between 65504 and 2^16 and beyond: rounds to infinity.
  if (abs >= 65520) return sign | 0x7c00
  // Subnormal: a count of 2^-24 steps; rounding up to 0x400 gives the smallest normal.
  if (abs < 2 ** -14) return sign | roundHalfEven(abs * 2 ** 24)
  let exponent = Math.floor(Math.log2(abs))
  if (2 ** exponent > abs) exponent--
  else if (2 ** (exponent + 1) <= abs) exponent++
  // Scaling by powers of two is exact; a carry into the exponent is the correct result.
  return sign | (((exponent + 15) << 10) + roundHalfEven((abs / 2 ** exponent - 1) * 1024))
}

function roundHalfEven (value: number): number {
  const floor = Math.floor(value)
  const rest = value - floor
  return rest > 0.5 || (rest === 0.5 && floor % 2 === 1) ? floor + 1 : floor
}

export function halfBitsToFloat (bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1
  const exponent = (bits >>> 10) & 0x1f
  const mantissa = bits & 0x3ff
  if (exponent === 0) return sign * mantissa * 2 ** -24
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15)
}
