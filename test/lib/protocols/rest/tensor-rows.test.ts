import t, { type Test } from 'tap'
import { InputError } from '../../../../lib/errors'
import type { TensorData, TensorSpec, TensorType } from '../../../../lib/tensors/tensor'
import {
  decodeRowOrRows, decodeRows, encodePredictions
} from '../../../../lib/protocols/rest/tensor-rows'
import { describeValue } from '../../../../lib/json/values'
import { nestedJson, rowsJson } from '../../../../lib/tensors/tensor-json'

const features: TensorSpec[] = [{ name: 'features', type: 'float32', shape: [-1, 4] }]
const mixed: TensorSpec[] = [
  { name: 'a', type: 'float64', shape: [-1, 2] },
  { name: 'b', type: 'int64', shape: [-1, 1] },
  { name: 'c', type: 'int32', shape: [-1] },
  { name: 'flag', type: 'bool', shape: [-1, 1] }
]

function one (type: TensorType, shape = [-1, 2]): TensorSpec[] {
  return [{ name: 'x', type, shape }]
}

/** The InputError `fn` throws; fails the test when it throws nothing or something else. */
function inputError (t: Test, fn: () => unknown): InputError {
  try {
    fn()
  } catch (error) {
    if (error instanceof InputError) {
      t.equal(error.statusCode, 400, 'an InputError is a 400')
      t.equal(error.code, 'ONNX_SERVE_BAD_INPUT')
      return error
    }
    throw error
  }
  t.fail('expected an InputError')
  return new InputError('', '')
}

/** Checks the exact message and field of the InputError that decoding `rows` throws. */
function refuses (t: Test, rows: unknown[], inputs: TensorSpec[], message: string, field: string): void {
  const error = inputError(t, () => decodeRows(rows, inputs, { field: 'instances' }))
  t.equal(error.message, message)
  t.equal(error.field, field)
}

function values (tensor: TensorData): unknown[] {
  return Array.from(tensor.data as ArrayLike<unknown>)
}

t.test('describeValue', async t => {
  t.equal(describeValue(null), 'null')
  t.equal(describeValue(undefined), 'a undefined')
  t.equal(describeValue([1, 2, 3]), 'an array of 3')
  t.equal(describeValue({ a: 1 }), 'an object')
  t.equal(describeValue('secret text'), 'a string', 'never echoes string contents')
  t.equal(describeValue(2.5), 'the number 2.5')
  t.equal(describeValue(true), 'a boolean')
})

t.test('float32', async t => {
  const tensors = decodeRows([[1.5, -2], [0, 3.4e38]], one('float32'), { field: 'instances' })
  t.same(Object.keys(tensors), ['x'])
  t.equal(tensors.x.type, 'float32')
  t.same(tensors.x.dims, [2, 2])
  t.ok(tensors.x.data instanceof Float32Array)
  t.same(values(tensors.x).slice(0, 3), [1.5, -2, 0])
  t.equal(values(tensors.x)[3], Math.fround(3.4e38))

  refuses(t, [[1, 3.5e38]], one('float32'),
    'instances[0][1]: expected a number within float32 range [-3.4028234663852886e+38, 3.4028234663852886e+38], received the number 3.5e+38',
    'instances[0][1]')
  refuses(t, [[1, -3.5e38]], one('float32'),
    'instances[0][1]: expected a number within float32 range [-3.4028234663852886e+38, 3.4028234663852886e+38], received the number -3.5e+38',
    'instances[0][1]')
  refuses(t, [[1, '2']], one('float32'), 'instances[0][1]: expected a number (float32), received a string', 'instances[0][1]')
  refuses(t, [[null, 2]], one('float32'), 'instances[0][0]: expected a number (float32), received null', 'instances[0][0]')
})

t.test('float64', async t => {
  const tensors = decodeRows([[0.1, 1e300], [-5e-324, 2]], one('float64'), { field: 'instances' })
  t.ok(tensors.x.data instanceof Float64Array)
  t.same(values(tensors.x), [0.1, 1e300, -5e-324, 2], 'stored exactly')
  refuses(t, [[true, 1]], one('float64'), 'instances[0][0]: expected a number (float64), received a boolean', 'instances[0][0]')
})

t.test('int32', async t => {
  const tensors = decodeRows([[2147483647, -2147483648]], one('int32'), { field: 'instances' })
  t.ok(tensors.x.data instanceof Int32Array)
  t.same(values(tensors.x), [2147483647, -2147483648])
  refuses(t, [[2147483648, 0]], one('int32'),
    'instances[0][0]: expected a number within int32 range [-2147483648, 2147483647], received the number 2147483648', 'instances[0][0]')
  refuses(t, [[0, -2147483649]], one('int32'),
    'instances[0][1]: expected a number within int32 range [-2147483648, 2147483647], received the number -2147483649', 'instances[0][1]')
  refuses(t, [[1, 1.5]], one('int32'), 'instances[0][1]: expected an integer (int32), received the number 1.5', 'instances[0][1]')
  refuses(t, [[1, '1']], one('int32'), 'instances[0][1]: expected a number (int32), received a string', 'instances[0][1]')
})

t.test('int64', async t => {
  const big = '9223372036854775807'
  const tensors = decodeRows([[1, -2], [big, '-9223372036854775808'], ['9007199254740993', Number.MAX_SAFE_INTEGER]], one('int64'), { field: 'instances' })
  t.ok(tensors.x.data instanceof BigInt64Array)
  t.same(values(tensors.x), [1n, -2n, 2n ** 63n - 1n, -(2n ** 63n), 9007199254740993n, 9007199254740991n])
  // Back to JSON: exact, as numbers while safe and as decimal strings beyond 2^53
  t.same(rowsJson(tensors.x, 'x'), [[1, -2], [big, '-9223372036854775808'], ['9007199254740993', 9007199254740991]])
  t.same(encodePredictions({ x: tensors.x }, 3)[2], ['9007199254740993', 9007199254740991])

  // JSON.parse has already rounded 9007199254740993 to 9007199254740992: refuse, and say to send a string
  const [row] = JSON.parse('[[9007199254740993, 1]]') as unknown[]
  refuses(t, [row], one('int64'),
    'instances[0][0]: expected an integer within ±(2^53-1), or a decimal string for larger int64 values (JSON numbers beyond 2^53 lose precision), received the number 9007199254740992',
    'instances[0][0]')
  refuses(t, [[1, 1e20]], one('int64'),
    'instances[0][1]: expected an integer within ±(2^53-1), or a decimal string for larger int64 values (JSON numbers beyond 2^53 lose precision), received the number 100000000000000000000',
    'instances[0][1]')
  refuses(t, [[1, '9223372036854775808']], one('int64'),
    'instances[0][1]: expected an integer within int64 range [-9223372036854775808, 9223372036854775807], received a string', 'instances[0][1]')
  refuses(t, [[1, 2.5]], one('int64'), 'instances[0][1]: expected an integer (int64), received the number 2.5', 'instances[0][1]')
  refuses(t, [[1, '2.5']], one('int64'), 'instances[0][1]: expected an integer (int64), received a string', 'instances[0][1]')
  refuses(t, [[1, '1e3']], one('int64'), 'instances[0][1]: expected an integer (int64), received a string', 'instances[0][1]')
  refuses(t, [[1, '']], one('int64'), 'instances[0][1]: expected an integer (int64), received a string', 'instances[0][1]')
})

t.test('uint64 refuses negatives with its range', async t => {
  const tensors = decodeRows(['18446744073709551615'], one('uint64', [-1]), { field: 'instances' })
  t.ok(tensors.x.data instanceof BigUint64Array)
  t.same(rowsJson(tensors.x, 'x'), ['18446744073709551615'])
  refuses(t, [-1], one('uint64', [-1]),
    'instances[0]: expected an integer within uint64 range [0, 18446744073709551615], received the number -1', 'instances[0]')
})

t.test('bool: only true and false', async t => {
  const tensors = decodeRows([[true], [false]], one('bool', [-1, 1]), { field: 'instances' })
  t.ok(tensors.x.data instanceof Uint8Array)
  t.same(values(tensors.x), [1, 0])
  t.same(rowsJson(tensors.x, 'x'), [[true], [false]])
  for (const [value, received] of [[1, 'the number 1'], [0, 'the number 0'], ['true', 'a string'], [null, 'null']] as const) {
    refuses(t, [[value]], one('bool', [-1, 1]), `instances[0][0]: expected a boolean (true or false), received ${received}`, 'instances[0][0]')
  }
})

t.test('string', async t => {
  const tensors = decodeRows([['a', ''], ['ü', 'long text']], one('string'), { field: 'instances' })
  t.ok(Array.isArray(tensors.x.data))
  t.same(tensors.x.data, ['a', '', 'ü', 'long text'])
  t.same(tensors.x.dims, [2, 2])
  refuses(t, [['a', 5]], one('string'), 'instances[0][1]: expected a string, received the number 5', 'instances[0][1]')
})

t.test('small integer and float16 types', async t => {
  const int8 = decodeRows([[-128, 127]], one('int8'), { field: 'instances' })
  t.ok(int8.x.data instanceof Int8Array)
  t.same(values(int8.x), [-128, 127])
  const uint16 = decodeRows([[0, 65535]], one('uint16'), { field: 'instances' })
  t.ok(uint16.x.data instanceof Uint16Array)
  refuses(t, [[0, 256]], one('uint8'), 'instances[0][1]: expected a number within uint8 range [0, 255], received the number 256', 'instances[0][1]')
  const half = decodeRows([[1, -2.5]], one('float16'), { field: 'instances' })
  t.ok(half.x.data instanceof Uint16Array, 'float16 travels as raw bits')
  t.same(values(half.x), [0x3c00, 0xc100])
  t.same(rowsJson(half.x, 'x'), [[1, -2.5]])
  refuses(t, [[1, 70000]], one('float16'), 'instances[0][1]: expected a number within float16 range [-65504, 65504], received the number 70000', 'instances[0][1]')
})

t.test('shapes: ragged rows, wrong depth, dynamic inner dimensions', async t => {
  refuses(t, [[1, 2, 3, 4], [1, 2, 3]], features,
    'instances[1]: expected an array of 4 (row shape [4] of float32), received an array of 3', 'instances[1]')
  refuses(t, [[1, 2, 3, 4, 5]], features,
    'instances[0]: expected an array of 4 (row shape [4] of float32), received an array of 5', 'instances[0]')
  refuses(t, [[1, 2, 3, [4]]], features,
    'instances[0][3]: expected a number (float32), received an array of 1', 'instances[0][3]')
  refuses(t, [5], features,
    'instances[0]: expected an array of 4 (row shape [4] of float32), received the number 5', 'instances[0]')
  refuses(t, [[[1, 2, 3, 4]]], features,
    'instances[0]: expected an array of 4 (row shape [4] of float32), received an array of 1', 'instances[0]')

  // A dynamic inner dimension is fixed by the first row; later rows must match it
  const dynamic: TensorSpec[] = [{ name: 'seq', type: 'int32', shape: [-1, -1, 2] }]
  const ok = decodeRows([[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 10], [11, 12]]], dynamic, { field: 'instances' })
  t.same(ok.seq.dims, [2, 3, 2])
  t.same(values(ok.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
  t.same(dynamic[0].shape, [-1, -1, 2], 'the model spec is not modified')
  refuses(t, [[[1, 2], [3, 4]], [[5, 6]]], dynamic,
    'instances[1]: expected an array of 2 (row shape [2, 2] of int32), received an array of 1', 'instances[1]')
  refuses(t, [[[1, 2]], [[5]]], dynamic,
    'instances[1][0]: expected an array of 2 (row shape [1, 2] of int32), received an array of 1', 'instances[1][0]')
  refuses(t, ['x'], dynamic,
    'instances[0]: expected an array (row shape [-1, 2] of int32), received a string', 'instances[0]')
  const again = decodeRows([[[1, 2]]], dynamic, { field: 'instances' })
  t.same(again.seq.dims, [1, 1, 2], 'each decode starts from the model shape')
})

t.test('one input: a row may be the value or an object keyed by its name', async t => {
  const bare = decodeRows([[5.1, 3.5, 1.4, 0.2]], features, { field: 'instances' })
  const keyed = decodeRows([{ features: [5.1, 3.5, 1.4, 0.2] }], features, { field: 'instances' })
  t.same(keyed.features.dims, [1, 4])
  t.same(values(keyed.features), values(bare.features))
  refuses(t, [{ feature: [1, 2, 3, 4] }], features,
    "instances[0]: unknown input 'feature'; the model's inputs are features", 'instances[0].feature')
  refuses(t, [{}], features, 'instances[0].features: missing; expected row shape [4] of float32', 'instances[0].features')
})

t.test('several inputs: rows keyed by input name', async t => {
  const rows = [
    { a: [0.5, 0.25], b: [10], c: 7, flag: [true] },
    { flag: [false], c: -8, b: ['-3'], a: [1, 2] }
  ]
  const tensors = decodeRows(rows, mixed, { field: 'instances' })
  t.same(Object.keys(tensors), ['a', 'b', 'c', 'flag'], 'in model input order')
  t.same(tensors.a, { type: 'float64', dims: [2, 2], data: new Float64Array([0.5, 0.25, 1, 2]) })
  t.same(tensors.b, { type: 'int64', dims: [2, 1], data: new BigInt64Array([10n, -3n]) })
  t.same(tensors.c, { type: 'int32', dims: [2], data: new Int32Array([7, -8]) })
  t.same(tensors.flag, { type: 'bool', dims: [2, 1], data: new Uint8Array([1, 0]) })

  refuses(t, [{ a: [1, 2], b: [1], c: 1 }], mixed, 'instances[0].flag: missing; expected row shape [1] of bool', 'instances[0].flag')
  refuses(t, [{ a: [1, 2], b: [1], c: 1, flag: [true], d: 1 }], mixed,
    "instances[0]: unknown input 'd'; the model's inputs are a, b, c, flag", 'instances[0].d')
  refuses(t, [[1, 2]], mixed,
    'instances[0]: expected an object keyed by input name (a, b, c, flag), received an array of 2', 'instances[0]')
  refuses(t, [{ a: [1, 2], b: [1], c: [1], flag: [true] }], mixed,
    'instances[0].c: expected a number (int32), received an array of 1', 'instances[0].c')
  refuses(t, [{ a: [1, 2], b: [1], c: 1, flag: [1] }], mixed,
    'instances[0].flag[0]: expected a boolean (true or false), received the number 1', 'instances[0].flag[0]')
})

t.test('prototype keys in a row are unknown inputs and pollute nothing', async t => {
  // JSON.parse makes "__proto__" an own key, unlike an object literal
  const proto = JSON.parse('{"features": [1, 2, 3, 4], "__proto__": {"polluted": true}}') as object
  t.ok(Object.hasOwn(proto, '__proto__'))
  refuses(t, [proto], features,
    "instances[0]: unknown input '__proto__'; the model's inputs are features", 'instances[0].__proto__')
  const multi = JSON.parse('{"a": [1, 2], "b": [1], "c": 1, "flag": [true], "__proto__": [1]}') as object
  refuses(t, [multi], mixed,
    "instances[0]: unknown input '__proto__'; the model's inputs are a, b, c, flag", 'instances[0].__proto__')
  refuses(t, [{ features: [1, 2, 3, 4], constructor: [1, 2, 3, 4] }], features,
    "instances[0]: unknown input 'constructor'; the model's inputs are features", 'instances[0].constructor')

  // Inherited names never count as a present input
  const inherits: TensorSpec[] = [{ name: 'toString', type: 'float32', shape: [-1] }, { name: 'x', type: 'float32', shape: [-1] }]
  refuses(t, [{ x: 1 }], inherits, 'instances[0].toString: missing; expected row shape [] of float32', 'instances[0].toString')
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched')
  t.equal(Object.getPrototypeOf(proto), Object.prototype)
})

t.test('batch dimension, empty requests and element limit', async t => {
  const fixed: TensorSpec[] = [{ name: 'x', type: 'float32', shape: [2, 2] }]
  t.same(decodeRows([[1, 2], [3, 4]], fixed, { field: 'instances' }).x.dims, [2, 2])
  refuses(t, [[1, 2], [3, 4], [5, 6]], fixed,
    "instances: model input 'x' has a fixed batch dimension of 2 (shape [2, 2]), received 3 rows", 'instances')
  refuses(t, [[1, 2]], fixed,
    "instances: model input 'x' has a fixed batch dimension of 2 (shape [2, 2]), received 1 row", 'instances')
  refuses(t, [1], [{ name: 's', type: 'float32', shape: [] }],
    "instances: model input 's' is a scalar with no batch dimension; send it through the v2 infer API", 'instances')
  refuses(t, [], features, 'instances: expected at least one row, received none', 'instances')

  const limits = { maxElements: 8 }
  t.same(decodeRows([[1, 2, 3, 4], [5, 6, 7, 8]], features, { field: 'instances', limits }).features.dims, [2, 4], 'exactly at the limit')
  const error = inputError(t, () => decodeRows([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]], features, { field: 'instances', limits }))
  t.equal(error.message, 'instances[2][0]: expected at most 8 tensor elements in all inputs (MAX_TENSOR_ELEMENTS), received more')
  t.equal(error.field, 'instances[2][0]')
  // The budget is shared across every input of the request
  const shared = inputError(t, () => decodeRows([{ a: [1, 2], b: [1], c: 1, flag: [true] }, { a: [1, 2], b: [1], c: 1, flag: [true] }], mixed, { field: 'instances', limits: { maxElements: 7 } }))
  t.equal(shared.message, 'instances[1].b[0]: expected at most 7 tensor elements in all inputs (MAX_TENSOR_ELEMENTS), received more', 'the second row overflows at its second input')
})

t.test('decodeRowOrRows tells one row from many', async t => {
  const row = [5.1, 3.5, 1.4, 0.2]
  const single = decodeRowOrRows(row, features, 'input_data')
  t.same(single.features.dims, [1, 4])
  t.same(values(single.features), Array.from(Float32Array.from(row)))
  t.same(decodeRowOrRows([row, row, row], features, 'input_data').features.dims, [3, 4])
  t.same(decodeRowOrRows({ features: row }, features, 'input_data').features.dims, [1, 4])
  t.same(decodeRowOrRows([{ features: row }, { features: row }], features, 'input_data').features.dims, [2, 4])

  // The field of a single row is the request field itself, without an index
  let error = inputError(t, () => decodeRowOrRows([1, 2, 3], features, 'input_data'))
  t.equal(error.message, 'input_data: expected an array of 4 (row shape [4] of float32), received an array of 3')
  error = inputError(t, () => decodeRowOrRows([row, [1, 2, 3]], features, 'input_data'))
  t.equal(error.message, 'input_data[1]: expected an array of 4 (row shape [4] of float32), received an array of 3')
  for (const [value, received] of [[5, 'the number 5'], [[[row]], 'an array of 1'], ['text', 'a string'], [null, 'null']] as const) {
    error = inputError(t, () => decodeRowOrRows(value, features, 'input_data'))
    t.equal(error.message, `input_data: expected a row of shape [4] or rows of shape [-1, 4] of float32 for input 'features', received ${received}`)
    t.equal(error.field, 'input_data')
  }

  // A model whose rows are scalars: a number is one row, an array is rows
  const vector: TensorSpec[] = [{ name: 'v', type: 'int32', shape: [-1] }]
  t.same(decodeRowOrRows(3, vector, 'input_data').v, { type: 'int32', dims: [1], data: new Int32Array([3]) })
  t.same(decodeRowOrRows([3, 4], vector, 'input_data').v, { type: 'int32', dims: [2], data: new Int32Array([3, 4]) })
  error = inputError(t, () => decodeRowOrRows([], vector, 'input_data'))
  t.equal(error.message, 'input_data: expected at least one row, received none')

  // Several inputs: an object is one row, an array holds rows
  const multiRow = { a: [1, 2], b: ['12345678901234567890'.slice(0, 19)], c: 3, flag: [false] }
  const one = decodeRowOrRows(multiRow, mixed, 'input_data')
  t.same(one.b.dims, [1, 1])
  t.same(values(one.b), [1234567890123456789n])
  t.same(decodeRowOrRows([multiRow, multiRow], mixed, 'input_data').c.dims, [2])
  error = inputError(t, () => decodeRowOrRows([[1, 2]], mixed, 'input_data'))
  t.equal(error.message, 'input_data[0]: expected an object keyed by input name (a, b, c, flag), received an array of 2')
  error = inputError(t, () => decodeRowOrRows('x', mixed, 'input_data'))
  t.equal(error.message, 'input_data: expected an object keyed by input name (a, b, c, flag), received a string')
  error = inputError(t, () => decodeRowOrRows([], mixed, 'input_data'))
  t.equal(error.message, 'input_data: expected at least one row, received none')

  error = inputError(t, () => decodeRowOrRows([row, row, row], features, 'input_data', { maxElements: 10 }))
  t.equal(error.message, 'input_data[2][2]: expected at most 10 tensor elements in all inputs (MAX_TENSOR_ELEMENTS), received more')
})

t.test('encodePredictions and tensorToRows', async t => {
  const label: TensorData = { type: 'int64', dims: [2], data: new BigInt64Array([0n, 2n ** 60n]) }
  const probabilities: TensorData = { type: 'float32', dims: [2, 3], data: new Float32Array([0.5, 0.25, 0.25, 0, 0, 1]) }
  const flag: TensorData = { type: 'bool', dims: [2, 1], data: new Uint8Array([0, 1]) }

  t.same(encodePredictions({ label }, 2), [0, '1152921504606846976'], 'one output: its values, exact int64')
  t.same(encodePredictions({ flag }, 2), [[false], [true]])
  t.strictSame(encodePredictions({ label, probabilities, flag }, 2), [
    { label: 0, probabilities: [0.5, 0.25, 0.25], flag: [false] },
    { label: '1152921504606846976', probabilities: [0, 0, 1], flag: [true] }
  ], 'several outputs: one object per row keyed by output name')
  t.throws(() => encodePredictions({ label }, 3), { message: "output 'label' has 2 rows for 3 input rows" })
  const scalar: TensorData = { type: 'float32', dims: [], data: new Float32Array([7]) }
  t.throws(() => rowsJson(scalar, 'loss'), { message: "output 'loss' is a scalar, not one value per row" })
  t.equal(nestedJson(scalar), 7)
  t.same(nestedJson(probabilities), [[0.5, 0.25, 0.25], [0, 0, 1]])
  const cube: TensorData = { type: 'int32', dims: [2, 2, 2], data: new Int32Array([1, 2, 3, 4, 5, 6, 7, 8]) }
  t.same(rowsJson(cube, 'cube'), [[[1, 2], [3, 4]], [[5, 6], [7, 8]]])
  const empty: TensorData = { type: 'float32', dims: [2, 0], data: new Float32Array(0) }
  t.same(rowsJson(empty, 'empty'), [[], []])
  t.same(rowsJson({ type: 'string', dims: [2], data: ['a', 'b'] }, 's'), ['a', 'b'])
})
