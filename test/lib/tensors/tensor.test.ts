import t from 'tap'
import { MessageChannel } from 'node:worker_threads'
import {
  elementCount, elementToJson, floatToHalfBits, formatShape, halfBitsToFloat,
  MIN_TRANSFER_BYTES, isTensorType, tensorTypes, transferList, type TensorData
} from '../../../lib/tensors/tensor'

t.test('floatToHalfBits encodes representative values', async t => {
  const cases: Array<[number, number]> = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [0.1, 0x2e66],
    [1 / 3, 0x3555],
    [65504, 0x7bff], // largest finite half
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [3 * 2 ** -24, 0x0003],
    [1023 * 2 ** -24, 0x03ff], // largest subnormal
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [65520, 0x7c00], // halfway to 2^16 rounds to even, which overflows to infinity
    [1e6, 0x7c00],
    [2 ** -26, 0x0000], // below half the smallest subnormal: zero
    [-(2 ** -26), 0x8000]
  ]
  for (const [value, bits] of cases) {
    t.equal(floatToHalfBits(value), bits, `${value} → 0x${bits.toString(16)}`)
  }
})

t.test('floatToHalfBits rounds to nearest, ties to even, as IEEE 754 and numpy do', async t => {
  // 1 + 2^-11 lies halfway between 1 (0x3c00, even) and 1 + 2^-10 (0x3c01)
  t.equal(floatToHalfBits(1 + 2 ** -11), 0x3c00)
  // 1 + 3·2^-11 lies halfway between 0x3c01 and 0x3c02 (even)
  t.equal(floatToHalfBits(1 + 3 * 2 ** -11), 0x3c02)
  // Just above a tie rounds up, even when float32 would first round it onto the tie
  t.equal(floatToHalfBits(1 + 2 ** -11 + 2 ** -40), 0x3c01)
  t.equal(floatToHalfBits(1 + 2 ** -11 - 2 ** -40), 0x3c00)
  // 2^-25 is halfway between 0 and the smallest subnormal: ties to zero
  t.equal(floatToHalfBits(2 ** -25), 0x0000)
  t.equal(floatToHalfBits(3 * 2 ** -25), 0x0002)
  // Rounding up may carry into the exponent: largest subnormal + → smallest normal
  t.equal(floatToHalfBits(2 ** -14 - 2 ** -26), 0x0400)
  t.equal(floatToHalfBits(2047 / 1024), 0x3fff)
  t.equal(floatToHalfBits(2 - 2 ** -12), 0x4000)
  t.equal(floatToHalfBits(65519), 0x7bff)
  // Just below a power of two, where Math.log2 rounds up to the integer
  t.equal(floatToHalfBits(32768 - 2 ** -38), 0x7800)
  t.equal(floatToHalfBits(0.5 - 2 ** -55), 0x3800)
  t.equal(floatToHalfBits(0.5 - 2 ** -13), 0x3800, 'a tie below 0.5 rounds up to the even 0.5')
  t.equal(floatToHalfBits(0.5 - 2 ** -13 - 2 ** -30), 0x37ff)
  t.equal(floatToHalfBits(0.5 - 2 ** -12), 0x37ff)
})

t.test('floatToHalfBits keeps NaN a NaN', async t => {
  t.ok(Number.isNaN(halfBitsToFloat(floatToHalfBits(NaN))))
})

t.test('halfBitsToFloat decodes normals, subnormals, zeros and infinities', async t => {
  t.equal(halfBitsToFloat(0x3c00), 1)
  t.equal(halfBitsToFloat(0xc000), -2)
  t.equal(halfBitsToFloat(0x7bff), 65504)
  t.equal(halfBitsToFloat(0x0001), 2 ** -24)
  t.equal(halfBitsToFloat(0x03ff), 1023 * 2 ** -24)
  t.equal(halfBitsToFloat(0x8001), -(2 ** -24))
  t.equal(halfBitsToFloat(0x2e66), 0.0999755859375)
  t.equal(halfBitsToFloat(0x7c00), Infinity)
  t.equal(halfBitsToFloat(0xfc00), -Infinity)
  t.ok(Object.is(halfBitsToFloat(0x8000), -0), '0x8000 is negative zero')
  t.ok(Number.isNaN(halfBitsToFloat(0x7e00)))
  t.ok(Number.isNaN(halfBitsToFloat(0xfc01)))
})

t.test('every non-NaN half value round-trips exactly', async t => {
  const wrong: number[] = []
  for (let bits = 0; bits <= 0xffff; bits++) {
    const value = halfBitsToFloat(bits)
    if (Number.isNaN(value)) continue
    if (floatToHalfBits(value) !== bits) wrong.push(bits)
  }
  t.same(wrong, [], 'bit patterns that do not round-trip')
})

t.test('float16 elements are checked, stored as bits and returned as numbers', async t => {
  const info = tensorTypes.float16
  t.equal(info.check(65504), undefined)
  t.equal(info.check(65505), 'a number within float16 range [-65504, 65504]')
  t.equal(info.toElement(1.5), 0x3e00)
  t.equal(elementToJson('float16', 0x3e00), 1.5)
})

t.test('transferList', async t => {
  const whole = new Float32Array([1, 2, 3])
  const other = new BigInt64Array([1n])
  t.same(transferList(undefined), [])
  t.same(transferList({}), [])

  const two = transferList({
    a: { type: 'float32', dims: [3], data: whole },
    b: { type: 'int64', dims: [1], data: other }
  }, 0)
  t.equal(two.length, 2)
  t.ok(two.includes(whole.buffer) && two.includes(other.buffer), 'each owned buffer once')

  // Two tensors over the same whole buffer: transferred once (a duplicate would throw DataCloneError)
  const bytes = new Uint8Array(whole.buffer)
  const shared = transferList({
    a: { type: 'float32', dims: [3], data: whole },
    b: { type: 'uint8', dims: [12], data: bytes }
  }, 0)
  t.same(shared, [whole.buffer])

  // A view into a larger buffer, or a small Buffer from Node's pool, must be copied, not moved
  const big = new Float32Array(8)
  const pooled = Buffer.from([1, 2, 3])
  t.ok(pooled.byteLength < pooled.buffer.byteLength, 'Buffer.from uses the shared pool')
  const views = transferList({
    head: { type: 'float32', dims: [4], data: big.subarray(0, 4) },
    tail: { type: 'float32', dims: [4], data: big.subarray(4) },
    pooled: { type: 'uint8', dims: [3], data: new Uint8Array(pooled.buffer, pooled.byteOffset, pooled.byteLength) },
    strings: { type: 'string', dims: [2], data: ['a', 'b'] },
    sab: { type: 'int32', dims: [2], data: new Int32Array(new SharedArrayBuffer(8)) }
  }, 0)
  t.same(views, [], 'views, strings and shared memory are never transferred')

  // By default small buffers are copied: cheaper than moving them.
  const large = new Float32Array(MIN_TRANSFER_BYTES / 4)
  t.same(transferList({ row: { type: 'float32', dims: [3], data: whole }, large: { type: 'float32', dims: [large.length], data: large } }), [large.buffer])

  // The list is accepted by postMessage, and detaches what it moves
  const tensors: Record<string, TensorData> = { a: { type: 'float32', dims: [3], data: new Float32Array([4, 5, 6]) } }
  const { port1, port2 } = new MessageChannel()
  const received = new Promise<TensorData>(resolve => port2.once('message', resolve))
  port1.postMessage(tensors.a, transferList(tensors, 0))
  const copy = await received
  port1.close()
  t.equal(tensors.a.data.length, 0, 'the sender no longer holds the data')
  t.same(Array.from(copy.data as Float32Array), [4, 5, 6])
})

t.test('each type stores its elements in the array onnxruntime expects', async t => {
  const expected = {
    float16: [Uint16Array, 'FP16'],
    float32: [Float32Array, 'FP32'],
    float64: [Float64Array, 'FP64'],
    int8: [Int8Array, 'INT8'],
    int16: [Int16Array, 'INT16'],
    int32: [Int32Array, 'INT32'],
    int64: [BigInt64Array, 'INT64'],
    uint8: [Uint8Array, 'UINT8'],
    uint16: [Uint16Array, 'UINT16'],
    uint32: [Uint32Array, 'UINT32'],
    uint64: [BigUint64Array, 'UINT64'],
    bool: [Uint8Array, 'BOOL']
  } as const
  t.same(Object.keys(tensorTypes).sort(), [...Object.keys(expected), 'string'].sort())
  for (const [type, [array, datatype]] of Object.entries(expected)) {
    const data = tensorTypes[type as keyof typeof expected].create(3)
    t.ok(data instanceof array && data.length === 3, `${type} → ${array.name}`)
    t.equal(tensorTypes[type as keyof typeof expected].datatype, datatype)
  }
})

t.test('small helpers', async t => {
  t.equal(elementCount([]), 1)
  t.equal(elementCount([2, 3, 4]), 24)
  t.equal(elementCount([5, 0]), 0)
  t.equal(formatShape([-1, 4]), '[-1, 4]')
  t.equal(formatShape([]), '[]')
  t.ok(isTensorType('float32'))
  t.ok(isTensorType('string'))
  t.notOk(isTensorType('bfloat16'))
  t.notOk(isTensorType('toString'), 'inherited keys are not types')
  t.notOk(isTensorType('__proto__'))
  t.equal(tensorTypes.int64.datatype, 'INT64')
  t.equal(tensorTypes.string.datatype, 'BYTES')
  t.same(tensorTypes.string.create(2), ['', ''])
})

t.test('elementToJson', async t => {
  t.equal(elementToJson('int64', 42n), 42)
  t.equal(elementToJson('int64', BigInt(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER)
  t.equal(elementToJson('int64', -BigInt(Number.MAX_SAFE_INTEGER)), -Number.MAX_SAFE_INTEGER)
  t.equal(elementToJson('int64', 2n ** 53n), '9007199254740992')
  t.equal(elementToJson('int64', -(2n ** 63n)), '-9223372036854775808')
  t.equal(elementToJson('uint64', 2n ** 64n - 1n), '18446744073709551615')
  t.equal(elementToJson('bool', 1), true)
  t.equal(elementToJson('bool', 0), false)
  t.equal(elementToJson('float32', 1.5), 1.5)
  t.equal(elementToJson('string', 'x'), 'x')
})

t.test('integer element checks name the type and its range', async t => {
  t.equal(tensorTypes.int8.check(127), undefined)
  t.equal(tensorTypes.int8.check(128), 'a number within int8 range [-128, 127]')
  t.equal(tensorTypes.uint8.check(-1), 'a number within uint8 range [0, 255]')
  t.equal(tensorTypes.uint32.check(1.5), 'an integer (uint32)')
  t.equal(tensorTypes.int16.check('1'), 'a number (int16)')
  t.equal(tensorTypes.uint64.check(-1), 'an integer within uint64 range [0, 18446744073709551615]')
  t.equal(tensorTypes.uint64.check('18446744073709551615'), undefined)
  t.equal(tensorTypes.uint64.check('18446744073709551616'), 'an integer within uint64 range [0, 18446744073709551615]')
  t.equal(tensorTypes.int64.check('1.5'), 'an integer (int64)')
  t.equal(tensorTypes.int64.check('0x10'), 'an integer (int64)')
  t.equal(tensorTypes.int64.check(' 1'), 'an integer (int64)')
  t.equal(tensorTypes.int64.check(true), 'an integer (int64)')
  t.equal(tensorTypes.int64.check(2.5), 'an integer (int64)')
  t.equal(tensorTypes.int64.toElement('-9223372036854775808'), -(2n ** 63n))
  t.equal(tensorTypes.bool.toElement(true), 1)
  t.equal(tensorTypes.bool.toElement(false), 0)
})
