import t, { type Test } from 'tap'
import { InputError } from '../../../../lib/errors'
import type { TensorArray, TensorData, TensorMap, TensorSpec, TensorType } from '../../../../lib/tensors/tensor'
import { tensorTypeOfV2, v2DatatypeOf, v2ElementSize } from '../../../../lib/protocols/v2/datatypes'
import { encodeInferResponse, parseHeaderLength, readInferBody } from '../../../../lib/protocols/v2/http-infer'
import { decodeInferRequest, type DecodedInferRequest, type V2Limits, type V2Model } from '../../../../lib/protocols/v2/infer-request'

const limits = { maxElements: 1000 }

/** A v2 infer body as the HTTP transport reads it: its JSON checked by the schema, then against the model. */
function decodeBody (body: Buffer, headerLength: number | undefined, model: V2Model, within: V2Limits): DecodedInferRequest {
  const { request, raw } = readInferBody(body, headerLength)
  return decodeInferRequest(request, raw, model, within)
}

const iris: V2Model = {
  inputs: [{ name: 'features', type: 'float32', shape: [-1, 4] }],
  outputs: [
    { name: 'label', type: 'int64', shape: [-1] },
    { name: 'probabilities', type: 'float32', shape: [-1, 3] }
  ]
}

const two: V2Model = {
  inputs: [
    { name: 'a', type: 'float32', shape: [-1, 2] },
    { name: 'b', type: 'int64', shape: [-1] }
  ],
  outputs: [{ name: 'y', type: 'float32', shape: [-1] }]
}

function single (type: TensorType, shape: number[] = [-1]): V2Model {
  return { inputs: [{ name: 'x', type, shape }], outputs: [{ name: 'y', type, shape }] }
}

/** A request body: the JSON alone, or the JSON followed by binary tensors. */
function body (json: unknown, binaries?: Buffer[]): { body: Buffer, headerLength?: number } {
  const head = Buffer.from(typeof json === 'string' ? json : JSON.stringify(json))
  if (binaries === undefined) return { body: head }
  return { body: Buffer.concat([head, ...binaries]), headerLength: head.length }
}

function decode (json: unknown, model: V2Model = iris, binaries?: Buffer[], max = limits.maxElements): DecodedInferRequest {
  const request = body(json, binaries)
  return decodeBody(request.body, request.headerLength, model, { maxElements: max })
}

/** The InputError `fn` throws; fails the test when it throws nothing or something else. */
function inputError (t: Test, fn: () => unknown): InputError {
  try {
    fn()
  } catch (error) {
    if (error instanceof InputError) {
      t.equal(error.statusCode, 400)
      return error
    }
    throw error
  }
  t.fail('expected an InputError')
  return new InputError('', '')
}

function refuses (t: Test, fn: () => unknown, message: string, field: string): void {
  const error = inputError(t, fn)
  t.equal(error.message, message)
  t.equal(error.field, field)
}

function values (data: TensorArray): unknown[] {
  return Array.from(data as ArrayLike<unknown>)
}

/** Little-endian bytes of a tensor in Triton's binary format, written by hand. */
function binaryOf (type: TensorType, elements: Array<number | bigint | string>): Buffer {
  if (type === 'string') {
    return Buffer.concat((elements as string[]).flatMap(text => {
      const bytes = Buffer.from(text, 'utf8')
      const length = Buffer.alloc(4)
      length.writeUInt32LE(bytes.length)
      return [length, bytes]
    }))
  }
  const size = v2ElementSize(type) ?? 0
  const out = Buffer.alloc(elements.length * size)
  elements.forEach((value, i) => {
    const at = i * size
    switch (type) {
      case 'float16': case 'uint16': out.writeUInt16LE(value as number, at); break
      case 'float32': out.writeFloatLE(value as number, at); break
      case 'float64': out.writeDoubleLE(value as number, at); break
      case 'int8': out.writeInt8(value as number, at); break
      case 'int16': out.writeInt16LE(value as number, at); break
      case 'int32': out.writeInt32LE(value as number, at); break
      case 'int64': out.writeBigInt64LE(value as bigint, at); break
      case 'uint8': case 'bool': out.writeUInt8(value as number, at); break
      case 'uint32': out.writeUInt32LE(value as number, at); break
      case 'uint64': out.writeBigUInt64LE(value as bigint, at); break
    }
  })
  return out
}

interface Case {
  type: TensorType
  datatype: string
  /** What a client sends as JSON `data`. */
  json: unknown[]
  /** What the decoded typed array holds. */
  stored: Array<number | bigint | string>
  /** What the response's JSON `data` says. */
  out: unknown[]
}

const cases: Case[] = [
  { type: 'bool', datatype: 'BOOL', json: [true, false, true], stored: [1, 0, 1], out: [true, false, true] },
  { type: 'uint8', datatype: 'UINT8', json: [0, 255, 7], stored: [0, 255, 7], out: [0, 255, 7] },
  { type: 'uint16', datatype: 'UINT16', json: [0, 65535, 7], stored: [0, 65535, 7], out: [0, 65535, 7] },
  { type: 'uint32', datatype: 'UINT32', json: [0, 4294967295, 7], stored: [0, 4294967295, 7], out: [0, 4294967295, 7] },
  {
    type: 'uint64',
    datatype: 'UINT64',
    json: [0, '18446744073709551615', 9007199254740991],
    stored: [0n, 2n ** 64n - 1n, 2n ** 53n - 1n],
    out: [0, '18446744073709551615', 9007199254740991]
  },
  { type: 'int8', datatype: 'INT8', json: [-128, 127, 0], stored: [-128, 127, 0], out: [-128, 127, 0] },
  { type: 'int16', datatype: 'INT16', json: [-32768, 32767, 0], stored: [-32768, 32767, 0], out: [-32768, 32767, 0] },
  { type: 'int32', datatype: 'INT32', json: [-2147483648, 2147483647, 0], stored: [-2147483648, 2147483647, 0], out: [-2147483648, 2147483647, 0] },
  {
    type: 'int64',
    datatype: 'INT64',
    json: [-9007199254740991, '-9223372036854775808', '9223372036854775807'],
    stored: [-(2n ** 53n) + 1n, -(2n ** 63n), 2n ** 63n - 1n],
    out: [-9007199254740991, '-9223372036854775808', '9223372036854775807']
  },
  { type: 'float16', datatype: 'FP16', json: [1, -2, 0.5], stored: [0x3c00, 0xc000, 0x3800], out: [1, -2, 0.5] },
  { type: 'float32', datatype: 'FP32', json: [1.5, -2, 0.25], stored: [1.5, -2, 0.25], out: [1.5, -2, 0.25] },
  { type: 'float64', datatype: 'FP64', json: [0.1, -1e300, 5e-324], stored: [0.1, -1e300, 5e-324], out: [0.1, -1e300, 5e-324] },
  { type: 'string', datatype: 'BYTES', json: ['a', 'héllo', ''], stored: ['a', 'héllo', ''], out: ['a', 'héllo', ''] }
]

/** Splits an encoded response into its JSON and each binary output's bytes. */
function parseResponse (encoded: { body: Buffer, headerLength?: number }): { json: Record<string, unknown>, binaries: Record<string, Buffer> } {
  const end = encoded.headerLength ?? encoded.body.length
  const json = JSON.parse(encoded.body.toString('utf8', 0, end)) as Record<string, unknown>
  const binaries: Record<string, Buffer> = {}
  let offset = end
  for (const output of json.outputs as Array<{ name: string, parameters?: { binary_data_size: number } }>) {
    if (output.parameters === undefined) continue
    binaries[output.name] = encoded.body.subarray(offset, offset + output.parameters.binary_data_size)
    offset += output.parameters.binary_data_size
  }
  return { json, binaries }
}

t.test('datatype names', async t => {
  for (const { type, datatype } of cases) {
    t.equal(v2DatatypeOf(type), datatype)
    t.equal(tensorTypeOfV2(datatype), type)
  }
  t.equal(tensorTypeOfV2('fp32'), undefined, 'names are upper case')
  t.equal(tensorTypeOfV2('FLOAT'), undefined)
  t.equal(tensorTypeOfV2('__proto__'), undefined)
  t.equal(tensorTypeOfV2('constructor'), undefined)
  t.same(cases.map(({ type }) => v2ElementSize(type)), [1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 4, 8, undefined])
})

t.test('every datatype as JSON, in and out', async t => {
  for (const { type, datatype, json, stored, out } of cases) {
    const model = single(type)
    const decoded = decode({ inputs: [{ name: 'x', datatype, shape: [3], data: json }] }, model)
    const tensor = decoded.feeds.x
    t.equal(tensor.type, type, datatype)
    t.same(tensor.dims, [3])
    t.same(values(tensor.data), stored, `${datatype} stored`)
    t.same(decoded.outputs, [{ name: 'y', binary: false }])

    const encoded = encodeInferResponse({ modelName: 'm', modelVersion: '1', outputs: { y: tensor }, requested: decoded.outputs })
    t.equal(encoded.headerLength, undefined, 'no binary, no header length')
    t.same(JSON.parse(encoded.body.toString()), {
      model_name: 'm', model_version: '1', outputs: [{ name: 'y', datatype, shape: [3], data: out }]
    }, `${datatype} out`)
  }
})

t.test('every datatype as binary, in and out', async t => {
  for (const { type, datatype, stored } of cases) {
    const model = single(type, [-1, 3])
    const bytes = binaryOf(type, [...stored, ...stored])
    const decoded = decode({
      inputs: [{ name: 'x', datatype, shape: [2, 3], parameters: { binary_data_size: bytes.length } }],
      parameters: { binary_data_output: true }
    }, model, [bytes])
    const tensor = decoded.feeds.x
    t.equal(tensor.type, type)
    t.same(tensor.dims, [2, 3])
    t.same(values(tensor.data), [...stored, ...stored], `${datatype} decoded`)
    t.same(decoded.outputs, [{ name: 'y', binary: true }])
    t.same(decoded.parameters, { binary_data_output: true })

    // The response's binary part reads back as the same bytes, and a request
    // made from it decodes to the same tensor.
    const encoded = encodeInferResponse({ modelName: 'm', modelVersion: '1', id: 'r1', outputs: { y: tensor }, requested: decoded.outputs })
    const { json, binaries } = parseResponse(encoded)
    t.same(json, {
      model_name: 'm', model_version: '1', id: 'r1', outputs: [{ name: 'y', datatype, shape: [2, 3], parameters: { binary_data_size: bytes.length } }]
    })
    t.equal(encoded.body.length, (encoded.headerLength ?? 0) + bytes.length)
    t.same(binaries.y, bytes, `${datatype} encoded bytes`)
    const again = decode({
      inputs: [{ name: 'x', datatype, shape: [2, 3], parameters: { binary_data_size: binaries.y.length } }]
    }, model, [binaries.y])
    t.same(values(again.feeds.x.data), values(tensor.data), `${datatype} round trip`)
  }
})

t.test('binary numbers: NaN, infinities and raw FP16 bits pass through', async t => {
  const floats = binaryOf('float32', [NaN, Infinity, -0])
  const decoded = decode({ inputs: [{ name: 'x', datatype: 'FP32', shape: [3], parameters: { binary_data_size: 12 } }] }, single('float32'), [floats])
  t.same(values(decoded.feeds.x.data), [NaN, Infinity, -0])
  const half = decode({ inputs: [{ name: 'x', datatype: 'FP16', shape: [2], parameters: { binary_data_size: 4 } }] }, single('float16'), [binaryOf('float16', [0x7c00, 0x0001])])
  t.same(values(half.feeds.x.data), [0x7c00, 0x0001])
  const out = encodeInferResponse({ modelName: 'm', modelVersion: '1', outputs: { y: half.feeds.x }, requested: [{ name: 'y', binary: false }] })
  t.same(JSON.parse(out.body.toString()).outputs[0].data, [Infinity, 2 ** -24].map(v => Number.isFinite(v) ? v : null),
    'JSON has no Infinity: JSON.stringify writes null')
})

t.test('mixed JSON and binary inputs, in any order', async t => {
  const b = binaryOf('int64', [5n, -6n])
  const decoded = decode({
    id: 'req-7',
    inputs: [
      { name: 'b', datatype: 'INT64', shape: [2], parameters: { binary_data_size: 16 } },
      { name: 'a', datatype: 'FP32', shape: [2, 2], data: [1, 2, 3, 4] }
    ]
  }, two, [b])
  t.equal(decoded.id, 'req-7')
  t.same(Object.keys(decoded.feeds), ['a', 'b'], 'feeds follow the model order')
  t.same(values(decoded.feeds.a.data), [1, 2, 3, 4])
  t.same(values(decoded.feeds.b.data), [5n, -6n])
  t.same(decoded.parameters, {})
  t.notOk('id' in decode({ inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] }), 'no id, no key')

  // Two binary inputs: their bytes follow the JSON in the inputs' order.
  const a = binaryOf('float32', [1, 2])
  const both = decode({
    inputs: [
      { name: 'a', datatype: 'FP32', shape: [1, 2], parameters: { binary_data_size: 8 } },
      { name: 'b', datatype: 'INT64', shape: [2], parameters: { binary_data_size: 16 } }
    ]
  }, two, [a, b])
  t.same(values(both.feeds.a.data), [1, 2])
  t.same(values(both.feeds.b.data), [5n, -6n])
  t.ok(both.feeds.a.data instanceof Float32Array)
  t.ok(both.feeds.b.data instanceof BigInt64Array)
})

t.test('nested and flat data', async t => {
  const model = single('float32', [-1, 3])
  const flat = decode({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }] }, model)
  const nested = decode({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 3], data: [[1, 2, 3], [4, 5, 6]] }] }, model)
  t.same(values(nested.feeds.x.data), values(flat.feeds.x.data))
  t.same(values(nested.feeds.x.data), [1, 2, 3, 4, 5, 6])

  const scalar = decode({ inputs: [{ name: 'x', datatype: 'INT32', shape: [], data: [7] }] }, single('int32', []))
  t.same(scalar.feeds.x.dims, [])
  t.same(values(scalar.feeds.x.data), [7])

  const empty = decode({ inputs: [{ name: 'x', datatype: 'FP32', shape: [0, 3], data: [] }] }, model)
  t.same(empty.feeds.x.dims, [0, 3])
  t.equal(empty.feeds.x.data.length, 0)
  const emptyRows = decode({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 0], data: [[], []] }] }, single('float32', [-1, -1]))
  t.same(emptyRows.feeds.x.dims, [2, 0])

  const bad = (data: unknown) => () => decode({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 3], data }] }, model)
  refuses(t, bad([[1, 2, 3], [4, 5]]), 'inputs[0].data[1]: expected an array of 3 (shape [2, 3] of FP32), received an array of 2', 'inputs[0].data[1]')
  refuses(t, bad([[1, 2, 3]]), 'inputs[0].data: expected an array of 2 (shape [2, 3] of FP32), received an array of 1', 'inputs[0].data')
  refuses(t, bad([[1, 2, 3], 4]), 'inputs[0].data[1]: expected an array of 3 (shape [2, 3] of FP32), received the number 4', 'inputs[0].data[1]')
  refuses(t, bad([[1, 2, 3], [4, 5, [6]]]), 'inputs[0].data[1][2]: expected a number (float32), received an array of 1', 'inputs[0].data[1][2]')
  refuses(t, bad([[[1, 2, 3], [4, 5, 6]]]), 'inputs[0].data: expected an array of 2 (shape [2, 3] of FP32), received an array of 1', 'inputs[0].data')
  refuses(t, bad([1, 2, 3, 4, 5]), 'inputs[0].data: expected 6 FP32 values for shape [2, 3], received an array of 5', 'inputs[0].data')
  refuses(t, bad([1, [2], 3, 4, 5, 6]), 'inputs[0].data[1]: expected a number (float32), received an array of 1', 'inputs[0].data[1]')
  refuses(t, bad({ 0: 1 }), 'inputs[0].data: expected an array of the tensor\'s elements, flat (row-major) or nested as its shape, received an object', 'inputs[0].data')
  refuses(t, bad(null), 'inputs[0].data: expected an array of the tensor\'s elements, flat (row-major) or nested as its shape, received null', 'inputs[0].data')
  refuses(t, () => decode({ inputs: [{ name: 'x', datatype: 'INT32', shape: [], data: [[7]] }] }, single('int32', [])),
    'inputs[0].data[0]: expected a number (int32), received an array of 1', 'inputs[0].data[0]')
})

t.test('element values are checked as the other APIs check them', async t => {
  const bad = (type: TensorType, datatype: string, element: unknown) =>
    () => decode({ inputs: [{ name: 'x', datatype, shape: [2], data: [element, element] }] }, single(type))
  refuses(t, bad('float32', 'FP32', '1.5'), 'inputs[0].data[0]: expected a number (float32), received a string', 'inputs[0].data[0]')
  refuses(t, bad('float32', 'FP32', 1e39), 'inputs[0].data[0]: expected a number within float32 range [-3.4028234663852886e+38, 3.4028234663852886e+38], received the number 1e+39', 'inputs[0].data[0]')
  refuses(t, bad('float16', 'FP16', 70000), 'inputs[0].data[0]: expected a number within float16 range [-65504, 65504], received the number 70000', 'inputs[0].data[0]')
  refuses(t, bad('uint8', 'UINT8', 256), 'inputs[0].data[0]: expected a number within uint8 range [0, 255], received the number 256', 'inputs[0].data[0]')
  refuses(t, bad('int8', 'INT8', 1.5), 'inputs[0].data[0]: expected an integer (int8), received the number 1.5', 'inputs[0].data[0]')
  refuses(t, bad('int64', 'INT64', 2 ** 60), 'inputs[0].data[0]: expected an integer within ±(2^53-1), or a decimal string for larger int64 values (JSON numbers beyond 2^53 lose precision), received the number 1152921504606847000', 'inputs[0].data[0]')
  refuses(t, bad('int64', 'INT64', '9223372036854775808'), 'inputs[0].data[0]: expected an integer within int64 range [-9223372036854775808, 9223372036854775807], received a string', 'inputs[0].data[0]')
  refuses(t, bad('uint64', 'UINT64', -1), 'inputs[0].data[0]: expected an integer within uint64 range [0, 18446744073709551615], received the number -1', 'inputs[0].data[0]')
  refuses(t, bad('int64', 'INT64', '1e3'), 'inputs[0].data[0]: expected an integer (int64), received a string', 'inputs[0].data[0]')
  refuses(t, bad('bool', 'BOOL', 1), 'inputs[0].data[0]: expected a boolean (true or false), received the number 1', 'inputs[0].data[0]')
  refuses(t, bad('string', 'BYTES', 5), 'inputs[0].data[0]: expected a string, received the number 5', 'inputs[0].data[0]')
  refuses(t, bad('string', 'BYTES', null), 'inputs[0].data[0]: expected a string, received null', 'inputs[0].data[0]')
})

t.test('the body, its JSON and the header length', async t => {
  const json = { inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }] }
  const text = Buffer.from(JSON.stringify(json))
  t.same(values(decodeBody(text, text.length, iris, limits).feeds.features.data), [1, 2, 3, 4], 'a header length equal to the body')
  t.same(values(decodeBody(text, undefined, iris, limits).feeds.features.data), [1, 2, 3, 4])

  const field = 'headers.inference-header-content-length'
  for (const length of [text.length + 1, -1, 1.5, NaN]) {
    refuses(t, () => decodeBody(text, length, iris, limits),
      `${field}: expected an integer from 0 to the body's length (${text.length} bytes), received ${length}`, field)
  }
  refuses(t, () => decode('{"inputs": ['), 'body: expected a JSON object, received text that is not valid JSON', 'body')
  refuses(t, () => decodeBody(Buffer.from('{"inputs": [{"parameters": {"binary_data_size": 4}}]}abcd'), undefined, iris, limits),
    'body: expected a JSON object, received text that is not valid JSON; a body with binary tensors needs the inference-header-content-length header giving the length of its JSON part', 'body')
  refuses(t, () => decodeBody(text, 5, iris, limits),
    'body: expected the first 5 bytes (inference-header-content-length) to be a JSON object, received text that is not valid JSON', 'body')
  refuses(t, () => decodeBody(text, 0, iris, limits),
    'body: expected the first 0 bytes (inference-header-content-length) to be a JSON object, received text that is not valid JSON', 'body')
  refuses(t, () => decode([json]), 'body: expected a JSON object with an inputs array, received an array of 1', 'body')
  refuses(t, () => decode('null'), 'body: expected a JSON object with an inputs array, received null', 'body')
  refuses(t, () => decode('"text"'), 'body: expected a JSON object with an inputs array, received a string', 'body')
  refuses(t, () => decode('"\\u0041"'), 'body: expected a JSON object with an inputs array, received a string', 'body')

  const poisoned = 'body: the keys __proto__ and constructor.prototype are not allowed in a request body'
  refuses(t, () => decode('{"inputs": [], "__proto__": {"x": 1}}'), poisoned, 'body')
  refuses(t, () => decode('{"inputs": [{"name": "features", "parameters": {"\\u005f_proto__": 1}}]}'), poisoned, 'body')
  refuses(t, () => decode('{"parameters": {"constructor": {"prototype": {"x": 1}}}, "inputs": []}'), poisoned, 'body')
  const harmless = decode({ ...json, parameters: { constructor: 'fine', note: '\u00e9' }, id: 'caf\u00e9' })
  t.same(harmless.parameters, { constructor: 'fine', note: 'é' }, 'a constructor key without a prototype is data')
  const escaped = decode(JSON.stringify({ ...json, id: 'x' }).replace('"x"', '"\\u0078"'))
  t.equal(escaped.id, 'x')
})

t.test('parseHeaderLength', async t => {
  t.equal(parseHeaderLength(undefined), undefined)
  t.equal(parseHeaderLength('0'), 0)
  t.equal(parseHeaderLength(' 120 '), 120)
  const field = 'headers.inference-header-content-length'
  refuses(t, () => parseHeaderLength('-1'), `${field}: expected a non-negative integer, received '-1'`, field)
  refuses(t, () => parseHeaderLength('12abc'), `${field}: expected a non-negative integer, received '12abc'`, field)
  refuses(t, () => parseHeaderLength('1'.repeat(16)), `${field}: expected a non-negative integer, received '1111111111111111'`, field)
  refuses(t, () => parseHeaderLength('x'.repeat(100)), `${field}: expected a non-negative integer, received '${'x'.repeat(64)}…'`, field)
  refuses(t, () => parseHeaderLength(['1', '2']), `${field}: expected one non-negative integer, received the header 2 times`, field)
})

t.test('request fields', async t => {
  const ok = { name: 'features', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }
  refuses(t, () => decode({ id: 5, inputs: [ok] }), 'id: expected a string, received the number 5', 'id')
  refuses(t, () => decode({ parameters: [], inputs: [ok] }), 'parameters: expected an object, received an array of 0', 'parameters')
  refuses(t, () => decode({ parameters: { binary_data_output: 'yes' }, inputs: [ok] }),
    'parameters.binary_data_output: expected a boolean, received a string', 'parameters.binary_data_output')
  refuses(t, () => decode({}), 'inputs: missing; expected an array of input tensors ({ name, shape, datatype, data })', 'inputs')
  refuses(t, () => decode({ inputs: { features: [1, 2, 3, 4] } }), 'inputs: expected an array of input tensors ({ name, shape, datatype, data }), received an object', 'inputs')
  refuses(t, () => decode({ inputs: [] }), "inputs: missing 'features' (FP32 [-1, 4]); the model's inputs are features", 'inputs')
  refuses(t, () => decode({ inputs: [[1, 2, 3, 4]] }), 'inputs[0]: expected an object { name, shape, datatype, data }, received an array of 4', 'inputs[0]')
  refuses(t, () => decode({ inputs: [{ ...ok, name: 3 }] }), "inputs[0].name: expected the name of one of the model's inputs, received the number 3", 'inputs[0].name')
  refuses(t, () => decode({ inputs: [{ name: 'a', datatype: 'FP32', shape: [1, 2], data: [1, 2] }, { ...ok, name: 'c' }] }, two), "inputs[1].name: unknown input 'c'; the model's inputs are a, b", 'inputs[1].name')
  refuses(t, () => decode({ inputs: [{ ...ok, name: 'features' }, ok] }), "inputs[1].name: input 'features' is given more than once (also inputs[0])", 'inputs[1].name')
  refuses(t, () => decode({ inputs: [{ name: 'a', datatype: 'FP32', shape: [1, 2], data: [1, 2] }] }, two),
    "inputs: missing 'b' (INT64 [-1]); the model's inputs are a, b", 'inputs')
  refuses(t, () => decode({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }] }, { inputs: [...two.inputs, { name: 'x', type: 'float32', shape: [1] }], outputs: [] }),
    "inputs: missing 'a' (FP32 [-1, 2]), 'b' (INT64 [-1]); the model's inputs are a, b, x", 'inputs')
})

t.test('datatype and shape against the model', async t => {
  const input = (change: Record<string, unknown>) => () => decode({ inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4], ...change }] })
  refuses(t, input({ datatype: 'INT64' }), "inputs[0].datatype: expected FP32 for input 'features', received INT64", 'inputs[0].datatype')
  refuses(t, input({ datatype: 'FLOAT' }), "inputs[0].datatype: expected FP32 for input 'features', received 'FLOAT' (not a v2 datatype)", 'inputs[0].datatype')
  refuses(t, input({ datatype: 'fp32' }), "inputs[0].datatype: expected FP32 for input 'features', received 'fp32' (not a v2 datatype)", 'inputs[0].datatype')
  refuses(t, input({ datatype: undefined }), 'inputs[0].datatype: missing; expected a v2 datatype: BOOL, UINT8…UINT64, INT8…INT64, FP16, FP32, FP64 or BYTES', 'inputs[0].datatype')
  refuses(t, input({ shape: undefined }), "inputs[0].shape: missing; expected the tensor's shape: an array of non-negative integers", 'inputs[0].shape')
  refuses(t, input({ shape: '1,4' }), "inputs[0].shape: expected the tensor's shape: an array of non-negative integers, received a string", 'inputs[0].shape')
  refuses(t, input({ shape: [1, -1] }), 'inputs[0].shape[1]: expected a non-negative integer, received the number -1', 'inputs[0].shape[1]')
  refuses(t, input({ shape: [1, 4.5] }), 'inputs[0].shape[1]: expected a non-negative integer, received the number 4.5', 'inputs[0].shape[1]')
  refuses(t, input({ shape: ['1', 4] }), 'inputs[0].shape[0]: expected a non-negative integer, received a string', 'inputs[0].shape[0]')
  refuses(t, input({ shape: [4] }), "inputs[0].shape: expected a shape matching [-1, 4] (-1: any size) for input 'features', of rank 2, received [4] of rank 1", 'inputs[0].shape')
  refuses(t, input({ shape: [1, 1, 4] }), "inputs[0].shape: expected a shape matching [-1, 4] (-1: any size) for input 'features', of rank 2, received [1, 1, 4] of rank 3", 'inputs[0].shape')
  refuses(t, input({ shape: [1, 3], data: [1, 2, 3] }), "inputs[0].shape[1]: expected 4 (model shape [-1, 4] of input 'features'), received 3", 'inputs[0].shape[1]')
  refuses(t, input({ shape: [2, 4] }), 'inputs[0].data: expected 8 FP32 values for shape [2, 4], received an array of 4', 'inputs[0].data')
  refuses(t, input({ data: undefined }),
    'inputs[0].data: missing; expected 4 FP32 values for shape [1, 4], or parameters.binary_data_size with the tensor in the binary part of the body', 'inputs[0].data')
  refuses(t, input({ parameters: 'binary' }), 'inputs[0].parameters: expected an object, received a string', 'inputs[0].parameters')
  refuses(t, input({ parameters: { shared_memory_region: 'r' } }),
    'inputs[0].parameters.shared_memory_region: not supported by this server; remove the parameter', 'inputs[0].parameters.shared_memory_region')
  t.same(decode({ inputs: [{ name: 'features', datatype: 'FP32', shape: [3, 4], data: new Array(12).fill(0), parameters: { content_type: 'np' } }] }).feeds.features.dims, [3, 4],
    'other input parameters are ignored; -1 takes any size')
})

t.test('the element limit counts every input', async t => {
  const a = { name: 'a', datatype: 'FP32', shape: [3, 2], data: [1, 2, 3, 4, 5, 6] }
  const b = { name: 'b', datatype: 'INT64', shape: [3], data: [1, 2, 3] }
  t.ok(decode({ inputs: [a, b] }, two, undefined, 9), 'exactly at the limit')
  refuses(t, () => decode({ inputs: [a, b] }, two, undefined, 8),
    'inputs[1].shape: expected at most 8 tensor elements in all inputs (MAX_TENSOR_ELEMENTS), received 9 with shape [3]', 'inputs[1].shape')
  refuses(t, () => decode({ inputs: [{ ...a, shape: [1e9, 2], data: [] }, b] }, two),
    'inputs[0].shape: expected at most 1000 tensor elements in all inputs (MAX_TENSOR_ELEMENTS), received 2000000000 with shape [1000000000, 2]', 'inputs[0].shape')
  // The body's framing is read before the model checks: 8e9 bytes declared, none sent.
  refuses(t, () => decode({ inputs: [{ ...a, shape: [1e9, 2], parameters: { binary_data_size: 8e9 }, data: undefined }, b] }, two, []),
    'body: expected 8000000000 bytes of binary tensor data after the 170-byte JSON part (the inputs\' parameters.binary_data_size), received 0', 'body')
})

t.test('binary data sizes and sections', async t => {
  const model = single('float32', [-1, 2])
  const four = binaryOf('float32', [1, 2, 3, 4])
  const input = (parameters: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    ({ name: 'x', datatype: 'FP32', shape: [2, 2], parameters, ...extra })
  refuses(t, () => decode({ inputs: [input({ binary_data_size: 12 })] }, model, [four.subarray(0, 12)]),
    'inputs[0].parameters.binary_data_size: expected 16 bytes (shape [2, 2] of FP32, 4 bytes each), received 12', 'inputs[0].parameters.binary_data_size')
  refuses(t, () => decode({ inputs: [{ name: 'x', datatype: 'BOOL', shape: [2], parameters: { binary_data_size: 3 } }] }, single('bool'), [Buffer.from([1, 0, 1])]),
    'inputs[0].parameters.binary_data_size: expected 2 bytes (shape [2] of BOOL, 1 byte each), received 3', 'inputs[0].parameters.binary_data_size')
  for (const size of [-1, 1.5, '16', null]) {
    refuses(t, () => decode({ inputs: [input({ binary_data_size: size })] }, model, [four]),
      `inputs[0].parameters.binary_data_size: expected a non-negative integer (bytes), received ${size === null ? 'null' : typeof size === 'string' ? 'a string' : `the number ${size}`}`,
      'inputs[0].parameters.binary_data_size')
  }
  refuses(t, () => decode({ inputs: [input({ binary_data_size: 16 }, { data: [1, 2, 3, 4] })] }, model, [four]),
    'inputs[0]: expected data or parameters.binary_data_size, received both; send the tensor one way', 'inputs[0]')
  refuses(t, () => decode({ inputs: [input({ binary_data_size: 16 })] }, model, [four.subarray(0, 15)]),
    "body: expected 16 bytes of binary tensor data after the 94-byte JSON part (the inputs' parameters.binary_data_size), received 15", 'body')
  refuses(t, () => decode({ inputs: [input({ binary_data_size: 16 })] }, model, [four, Buffer.from([0])]),
    "body: expected 16 bytes of binary tensor data after the 94-byte JSON part (the inputs' parameters.binary_data_size), received 17", 'body')
  refuses(t, () => decode({ inputs: [input({ binary_data_size: 16 })] }, model, []),
    "body: expected 16 bytes of binary tensor data after the 94-byte JSON part (the inputs' parameters.binary_data_size), received 0", 'body')
  refuses(t, () => decode({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: [1, 2] }] }, model, [Buffer.from('junk')]),
    "body: expected 0 bytes of binary tensor data after the 70-byte JSON part (the inputs' parameters.binary_data_size), received 4", 'body')
  refuses(t, () => decode({ inputs: [input({ binary_data_size: 16 })] }, model),
    'headers.inference-header-content-length: missing; inputs with parameters.binary_data_size need it to give the length of the JSON part of the body',
    'headers.inference-header-content-length')
  const empty = decode({ inputs: [{ name: 'x', datatype: 'FP32', shape: [0, 2], parameters: { binary_data_size: 0 } }] }, model)
  t.equal(empty.feeds.x.data.length, 0, 'an empty binary tensor needs no header')

  refuses(t, () => decode({ inputs: [{ name: 'x', datatype: 'BOOL', shape: [3], parameters: { binary_data_size: 3 } }] }, single('bool'), [Buffer.from([1, 0, 2])]),
    'inputs[0]: binary BOOL element 2 is the byte 2; expected 0 (false) or 1 (true)', 'inputs[0]')
})

t.test('BYTES as binary', async t => {
  const model = single('string')
  const texts = ['héllo', '日本語', '🙂 ok', '', '\ufeffbom']
  const bytes = binaryOf('string', texts)
  const decoded = decode({ inputs: [{ name: 'x', datatype: 'BYTES', shape: [texts.length], parameters: { binary_data_size: bytes.length } }] }, model, [bytes])
  t.same(decoded.feeds.x.data, texts, 'multi-byte UTF-8 and a leading BOM kept as sent')
  t.equal(bytes.length, texts.reduce((sum, text) => sum + 4 + Buffer.byteLength(text), 0))

  const bytesInput = (shape: number[], chunk: Buffer) => () => decode({ inputs: [{ name: 'x', datatype: 'BYTES', shape, parameters: { binary_data_size: chunk.length } }] }, model, [chunk])
  const ab = binaryOf('string', ['ab', 'c'])
  refuses(t, bytesInput([3], ab), 'inputs[0]: binary BYTES data of 11 bytes (parameters.binary_data_size) ends inside the 4-byte length of element 2; expected 3 elements', 'inputs[0]')
  refuses(t, bytesInput([2], ab.subarray(0, 9)), 'inputs[0]: binary BYTES data of 9 bytes (parameters.binary_data_size) ends inside the 4-byte length of element 1; expected 2 elements', 'inputs[0]')
  refuses(t, bytesInput([2], ab.subarray(0, 10)), 'inputs[0]: binary BYTES data of 10 bytes (parameters.binary_data_size): element 1 declares 1 bytes, but only 0 remain', 'inputs[0]')
  refuses(t, bytesInput([1], ab), 'inputs[0]: binary BYTES data of 11 bytes (parameters.binary_data_size) holds 5 bytes more than its 1 elements', 'inputs[0]')
  const huge = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x61])
  refuses(t, bytesInput([1], huge), 'inputs[0]: binary BYTES data of 5 bytes (parameters.binary_data_size): element 0 declares 4294967295 bytes, but only 1 remain', 'inputs[0]')
  const invalid = Buffer.concat([binaryOf('string', ['ok']), Buffer.from([2, 0, 0, 0, 0xc3, 0x28])])
  refuses(t, bytesInput([2], invalid), 'inputs[0]: binary BYTES element 1 is not valid UTF-8; this server takes BYTES as UTF-8 text', 'inputs[0]')
  // onnxruntime would hand back 'a': refused rather than cut short.
  refuses(t, bytesInput([2], binaryOf('string', ['ok', 'a\u0000b'])), 'inputs[0]: binary BYTES element 1: expected a string without the NUL character (\\u0000), which onnxruntime cannot carry', 'inputs[0]')
  const empty = decode({ inputs: [{ name: 'x', datatype: 'BYTES', shape: [2], parameters: { binary_data_size: 8 } }] }, model, [binaryOf('string', ['', ''])])
  t.same(empty.feeds.x.data, ['', ''])
})

t.test('a binary tensor owns its memory, even when the body is a view of the shared pool', async t => {
  const json = Buffer.from(JSON.stringify({
    inputs: [
      { name: 'a', datatype: 'FP32', shape: [1, 2], parameters: { binary_data_size: 8 } },
      { name: 'b', datatype: 'INT64', shape: [1], parameters: { binary_data_size: 8 } }
    ]
  }))
  const pooled = Buffer.from([...json, ...binaryOf('float32', [1.5, -2]), ...binaryOf('int64', [42n])])
  t.ok(pooled.buffer.byteLength > pooled.length, 'Buffer.from of a small array is a view of the pool')
  const decoded = decodeBody(pooled, json.length, two, limits)
  for (const tensor of Object.values(decoded.feeds)) {
    const data = tensor.data as Float32Array | BigInt64Array
    t.not(data.buffer, pooled.buffer, `${tensor.type} does not share the pool`)
    t.equal(data.byteOffset, 0)
    t.equal(data.buffer.byteLength, data.byteLength, `${tensor.type} owns its whole buffer (transferable)`)
  }
  t.same(values(decoded.feeds.a.data), [1.5, -2])
  t.same(values(decoded.feeds.b.data), [42n])
  pooled.fill(0)
  t.same(values(decoded.feeds.a.data), [1.5, -2], 'reusing the body changes nothing')
})

t.test('requested outputs', async t => {
  const inputs = [{ name: 'features', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }]
  const outputs = (json: Record<string, unknown>) => decode({ inputs, ...json }).outputs
  t.same(outputs({}), [{ name: 'label', binary: false }, { name: 'probabilities', binary: false }], 'absent: every output, as JSON')
  t.same(outputs({ outputs: [] }), [{ name: 'label', binary: false }, { name: 'probabilities', binary: false }], 'empty: every output')
  t.same(outputs({ parameters: { binary_data_output: true } }), [{ name: 'label', binary: true }, { name: 'probabilities', binary: true }])
  t.same(outputs({ parameters: { binary_data_output: false }, outputs: [{ name: 'probabilities' }] }), [{ name: 'probabilities', binary: false }])
  t.same(outputs({ outputs: [{ name: 'probabilities', parameters: { binary_data: true } }, { name: 'label' }] }),
    [{ name: 'probabilities', binary: true }, { name: 'label', binary: false }], 'in the order requested')
  t.same(outputs({ parameters: { binary_data_output: true }, outputs: [{ name: 'label', parameters: { binary_data: false } }, { name: 'probabilities' }] }),
    [{ name: 'label', binary: false }, { name: 'probabilities', binary: true }], 'binary_data overrides binary_data_output')

  const refused = (json: Record<string, unknown>) => () => decode({ inputs, ...json })
  refuses(t, refused({ outputs: { label: true } }), 'outputs: expected an array of requested outputs ({ name, parameters }), received an object', 'outputs')
  refuses(t, refused({ outputs: ['label'] }), 'outputs[0]: expected an object { name, parameters }, received a string', 'outputs[0]')
  refuses(t, refused({ outputs: [{ name: ['label'] }] }), "outputs[0].name: expected the name of one of the model's outputs, received an array of 1", 'outputs[0].name')
  refuses(t, refused({ outputs: [{ name: 'scores' }, { name: 'label' }, { name: 'logits' }] }),
    "outputs: the model has no output 'scores', 'logits'; its outputs are label, probabilities", 'outputs')
  refuses(t, refused({ outputs: [{ name: 'label' }, { name: 'label' }] }), "outputs[1].name: output 'label' is requested more than once", 'outputs[1].name')
  refuses(t, refused({ outputs: [{ name: 'label', parameters: { binary_data: 1 } }] }),
    'outputs[0].parameters.binary_data: expected a boolean, received the number 1', 'outputs[0].parameters.binary_data')
  refuses(t, refused({ outputs: [{ name: 'label', parameters: 7 }] }), 'outputs[0].parameters: expected an object, received the number 7', 'outputs[0].parameters')
  refuses(t, refused({ outputs: [{ name: 'probabilities', parameters: { classification: 2 } }] }),
    'outputs[0].parameters.classification: not supported by this server; remove the parameter', 'outputs[0].parameters.classification')
})

t.test('responses: JSON only, all binary, mixed', async t => {
  const outputs: TensorMap = {
    label: { type: 'int64', dims: [2], data: new BigInt64Array([0n, 2n]) },
    probabilities: { type: 'float32', dims: [2, 3], data: new Float32Array([0.5, 0.25, 0.25, 0, 0, 1]) },
    tags: { type: 'string', dims: [2, 1], data: ['é', 'b'] },
    flags: { type: 'bool', dims: [2], data: new Uint8Array([1, 0]) }
  }
  const args = { modelName: 'iris', modelVersion: '3', outputs }
  const plain = encodeInferResponse({ ...args, id: '', requested: [{ name: 'probabilities', binary: false }, { name: 'label', binary: false }] })
  t.equal(plain.headerLength, undefined)
  t.same(JSON.parse(plain.body.toString()), {
    model_name: 'iris',
    model_version: '3',
    id: '',
    outputs: [
      { name: 'probabilities', datatype: 'FP32', shape: [2, 3], data: [0.5, 0.25, 0.25, 0, 0, 1] },
      { name: 'label', datatype: 'INT64', shape: [2], data: [0, 2] }
    ]
  }, 'only the requested outputs, in the order requested, flat')
  t.equal(JSON.stringify(JSON.parse(plain.body.toString())), plain.body.toString())

  const binary = encodeInferResponse({ ...args, requested: ['label', 'tags', 'flags'].map(name => ({ name, binary: true })) })
  const all = parseResponse(binary)
  t.same(all.json, {
    model_name: 'iris',
    model_version: '3',
    outputs: [
      { name: 'label', datatype: 'INT64', shape: [2], parameters: { binary_data_size: 16 } },
      { name: 'tags', datatype: 'BYTES', shape: [2, 1], parameters: { binary_data_size: 11 } },
      { name: 'flags', datatype: 'BOOL', shape: [2], parameters: { binary_data_size: 2 } }
    ]
  })
  t.equal(binary.headerLength, Buffer.byteLength(JSON.stringify(all.json)))
  t.equal(binary.body.length, (binary.headerLength ?? 0) + 16 + 11 + 2)
  t.same(all.binaries.label, binaryOf('int64', [0n, 2n]))
  t.same(all.binaries.tags, binaryOf('string', ['é', 'b']))
  t.same(all.binaries.flags, Buffer.from([1, 0]))

  const mixed = encodeInferResponse({ ...args, id: 'r', requested: [{ name: 'tags', binary: false }, { name: 'probabilities', binary: true }, { name: 'flags', binary: false }] })
  const parsed = parseResponse(mixed)
  t.same(parsed.json, {
    model_name: 'iris',
    model_version: '3',
    id: 'r',
    outputs: [
      { name: 'tags', datatype: 'BYTES', shape: [2, 1], data: ['é', 'b'] },
      { name: 'probabilities', datatype: 'FP32', shape: [2, 3], parameters: { binary_data_size: 24 } },
      { name: 'flags', datatype: 'BOOL', shape: [2], data: [true, false] }
    ]
  })
  t.same(parsed.binaries.probabilities, binaryOf('float32', [0.5, 0.25, 0.25, 0, 0, 1]))
  t.equal(mixed.body.length, (mixed.headerLength ?? 0) + 24)

  // A view into a larger buffer sends only its own bytes.
  const big = new Float32Array([9, 1, 2, 9])
  const view: TensorData = { type: 'float32', dims: [2], data: big.subarray(1, 3) }
  const viewed = parseResponse(encodeInferResponse({ ...args, outputs: { v: view }, requested: [{ name: 'v', binary: true }] }))
  t.same(viewed.binaries.v, binaryOf('float32', [1, 2]))

  t.throws(() => encodeInferResponse({ ...args, requested: [{ name: 'missing', binary: false }] }),
    { message: "output 'missing' was requested but the model did not return it" })
})

t.test('a decoded request feeds a response of the same tensors', async t => {
  const model: V2Model = {
    inputs: [
      { name: 'p', type: 'float32', shape: [-1, 2] },
      { name: 's', type: 'string', shape: [-1] }
    ],
    outputs: []
  }
  const spec: TensorSpec[] = model.inputs
  const decoded = decode({
    inputs: [
      { name: 's', datatype: 'BYTES', shape: [2], data: [['x'], ['y']].flat() },
      { name: 'p', datatype: 'FP32', shape: [2, 2], data: [[1, 2], [3, 4]] }
    ],
    outputs: []
  }, model)
  t.same(decoded.outputs, [])
  const encoded = encodeInferResponse({
    modelName: 'echo', modelVersion: '1', outputs: decoded.feeds, requested: spec.map(({ name }, i) => ({ name, binary: i === 0 }))
  })
  const { json, binaries } = parseResponse(encoded)
  t.same((json.outputs as Array<{ name: string }>).map(output => output.name), ['p', 's'])
  const back = decode({
    inputs: [
      { name: 'p', datatype: 'FP32', shape: [2, 2], parameters: { binary_data_size: binaries.p.length } },
      (json.outputs as unknown[])[1]
    ]
  }, model, [binaries.p])
  t.same(values(back.feeds.p.data), [1, 2, 3, 4])
  t.same(back.feeds.s.data, ['x', 'y'])
})
