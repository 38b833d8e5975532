import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { buildApp } from '../../helpers/build-app'
import { identityTypes, writeIdentityModel } from '../../helpers/identity-model'

// Two rows of each type, chosen at the edges of their ranges; 64-bit values
// beyond 2^53 travel as decimal strings in JSON.
const values: Record<keyof typeof identityTypes, unknown[]> = {
  BOOL: [true, false, false, true],
  UINT8: [0, 255, 1, 128],
  UINT16: [0, 65535, 2, 300],
  UINT32: [0, 4294967295, 3, 70000],
  UINT64: [0, '18446744073709551615', 4, 9007199254740991],
  INT8: [-128, 127, 0, -1],
  INT16: [-32768, 32767, 5, -6],
  INT32: [-2147483648, 2147483647, 7, -8],
  INT64: ['-9223372036854775808', '9223372036854775807', 9007199254740991, -10],
  FP16: [0.5, -2, 65504, 0.099975586],
  FP32: [1.5, -3.25, 3.4028234663852886e38, 1e-7],
  FP64: [Math.PI, -1e308, 5e-324, 0],
  BYTES: ['', 'héllo', '日本語', 'a "quoted" \\ string']
}

t.test('every datatype goes through the model and back, in JSON', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'onnx-serve-identity-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeIdentityModel(dir)
  const app = await buildApp(t, { MODEL_REPOSITORY: dir })

  const metadata = await app.inject({ url: '/v2/models/identity' })
  t.same(metadata.json().inputs.map((input: { datatype: string }) => input.datatype), Object.keys(identityTypes), 'the protocol\'s datatype names')

  const names = Object.keys(identityTypes) as Array<keyof typeof identityTypes>
  const res = await app.inject({
    method: 'POST',
    url: '/v2/models/identity/infer',
    payload: { inputs: names.map(name => ({ name, datatype: name, shape: [2, 2], data: values[name] })) }
  })
  t.equal(res.statusCode, 200, res.body.slice(0, 200))
  const outputs = res.json().outputs as Array<{ name: string, datatype: string, shape: number[], data: unknown[] }>
  for (const name of names) {
    const output = outputs.find(candidate => candidate.name === `${name}_out`)
    t.equal(output?.datatype, name, `${name}: datatype`)
    t.same(output?.shape, [2, 2], `${name}: shape`)
    const expected = name === 'FP32'
      ? values.FP32.map(value => Math.fround(value as number))
      : name === 'FP16' ? [0.5, -2, 65504, 0.0999755859375] : values[name]
    t.same(output?.data, expected, `${name}: values`)
  }
})
