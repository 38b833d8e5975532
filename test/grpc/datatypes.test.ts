// Every datatype through the model and back over gRPC: as raw contents
// (FP16 included, BYTES with 4-byte length prefixes) and as typed contents
// (every type that has a contents field), answers in raw_output_contents.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { encodeModel, node, tensorInput, tensorOutput } from '../../scripts/onnx-graph'
import { buildApp } from '../helpers/build-app'
import { grpcClientOf } from '../helpers/grpc-client'
import { identityTypes, writeIdentityModel } from '../helpers/identity-model'

type Datatype = keyof typeof identityTypes

const bytes = (view: ArrayBufferView): Buffer => Buffer.from(view.buffer, view.byteOffset, view.byteLength)
const strings = ['', 'héllo', '日本語', 'a "quoted" \\ string']

/** Four elements ([2, 2]) of each type at the edges of its range: their typed contents and their raw bytes. */
const samples: Record<Datatype, { contents?: Record<string, unknown[]>, raw: Buffer }> = {
  BOOL: { contents: { bool_contents: [true, false, false, true] }, raw: Buffer.from([1, 0, 0, 1]) },
  UINT8: { contents: { uint_contents: [0, 255, 1, 128] }, raw: bytes(new Uint8Array([0, 255, 1, 128])) },
  UINT16: { contents: { uint_contents: [0, 65535, 2, 300] }, raw: bytes(new Uint16Array([0, 65535, 2, 300])) },
  UINT32: { contents: { uint_contents: [0, 4294967295, 3, 70000] }, raw: bytes(new Uint32Array([0, 4294967295, 3, 70000])) },
  UINT64: { contents: { uint64_contents: ['0', '18446744073709551615', '4', '9007199254740993'] }, raw: bytes(new BigUint64Array([0n, 18446744073709551615n, 4n, 9007199254740993n])) },
  INT8: { contents: { int_contents: [-128, 127, 0, -1] }, raw: bytes(new Int8Array([-128, 127, 0, -1])) },
  INT16: { contents: { int_contents: [-32768, 32767, 5, -6] }, raw: bytes(new Int16Array([-32768, 32767, 5, -6])) },
  INT32: { contents: { int_contents: [-2147483648, 2147483647, 7, -8] }, raw: bytes(new Int32Array([-2147483648, 2147483647, 7, -8])) },
  INT64: { contents: { int64_contents: ['-9223372036854775808', '9223372036854775807', '9007199254740993', '-10'] }, raw: bytes(new BigInt64Array([-9223372036854775808n, 9223372036854775807n, 9007199254740993n, -10n])) },
  // 0.5, -2, 65504 and 0.0999755859375 as half-precision bits: raw only, there is no typed field for FP16.
  FP16: { raw: bytes(new Uint16Array([0x3800, 0xc000, 0x7bff, 0x2e66])) },
  FP32: { contents: { fp32_contents: [1.5, -3.25, 3.4028234663852886e38, 1e-7] }, raw: bytes(new Float32Array([1.5, -3.25, 3.4028234663852886e38, 1e-7])) },
  FP64: { contents: { fp64_contents: [Math.PI, -1e308, 5e-324, 0] }, raw: bytes(new Float64Array([Math.PI, -1e308, 5e-324, 0])) },
  BYTES: {
    contents: { bytes_contents: strings.map(text => Buffer.from(text)) },
    raw: Buffer.concat(strings.flatMap(text => {
      const length = Buffer.alloc(4)
      length.writeUInt32LE(Buffer.byteLength(text))
      return [length, Buffer.from(text)]
    }))
  }
}

interface InferResponse {
  outputs: Array<{ name: string, datatype: string, shape: string[] }>
  raw_output_contents: Buffer[]
}

function checkOutputs (t: Test, response: InferResponse | undefined, names: Datatype[], how: string): void {
  t.strictSame(response?.outputs.map(output => output.name), names.map(name => `${name}_out`), `${how}: every output`)
  names.forEach((name, i) => {
    t.strictSame(response?.outputs[i], { name: `${name}_out`, datatype: name, shape: ['2', '2'] }, `${how}: ${name}'s datatype and shape`)
    t.strictSame(response?.raw_output_contents[i], samples[name].raw, `${how}: ${name}'s elements, byte for byte`)
  })
}

t.test('every datatype, in raw contents and typed contents', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'onnx-serve-grpc-types-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeIdentityModel(dir)
  // The same without FP16: a request sends all its inputs one way, and FP16 has no typed field.
  const typed = (Object.keys(identityTypes) as Datatype[]).filter(name => name !== 'FP16')
  mkdirSync(join(dir, 'typed', '1'), { recursive: true })
  writeFileSync(join(dir, 'typed', '1', 'model.onnx'), encodeModel({
    graphName: 'typed',
    inputs: typed.map(name => tensorInput(name, identityTypes[name], ['batch', 2])),
    outputs: typed.map(name => tensorOutput(`${name}_out`, identityTypes[name], ['batch', 2])),
    nodes: typed.map(name => node('Identity', [name], [`${name}_out`]))
  }))
  const app = await buildApp(t, { MODEL_REPOSITORY: dir })
  const grpc = await grpcClientOf(t, app)

  const all = Object.keys(identityTypes) as Datatype[]
  const raw = await grpc.call<InferResponse>('ModelInfer', {
    model_name: 'identity',
    inputs: all.map(name => ({ name, datatype: name, shape: ['2', '2'] })),
    // Each buffer at an odd offset of a larger one: copied, never viewed misaligned.
    raw_input_contents: all.map(name => Buffer.concat([Buffer.alloc(1), samples[name].raw]).subarray(1))
  })
  t.equal(raw.error, undefined, raw.error?.details ?? 'raw contents answered')
  checkOutputs(t, raw.response, all, 'raw')

  const contents = await grpc.call<InferResponse>('ModelInfer', {
    model_name: 'typed',
    inputs: typed.map(name => ({ name, datatype: name, shape: ['2', '2'], contents: samples[name].contents }))
  })
  t.equal(contents.error, undefined, contents.error?.details ?? 'typed contents answered')
  checkOutputs(t, contents.response, typed, 'typed')
})
