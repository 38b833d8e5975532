import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { versionDigest } from '../../../lib/models/loader'

t.test('the digest covers every file of the version folder, external data included', async t => {
  const dir = t.testdir({ 'model.onnx': 'graph', 'weights.bin': 'old weights' })
  const first = await versionDigest(dir)
  t.match(first, /^[0-9a-f]{64}$/)
  t.equal(await versionDigest(dir), first, 'the same bytes, the same digest')

  writeFileSync(join(dir, 'weights.bin'), 'new weights')
  const newWeights = await versionDigest(dir)
  t.not(newWeights, first, 'new weights beside an unchanged model.onnx change it')

  mkdirSync(join(dir, 'data'))
  writeFileSync(join(dir, 'data', 'layer1.bin'), 'x')
  const nested = await versionDigest(dir)
  t.not(nested, newWeights, 'a file in a subfolder counts')

  writeFileSync(join(dir, 'data', 'layer1.bin'), '')
  writeFileSync(join(dir, 'data', 'layer2.bin'), 'x')
  t.not(await versionDigest(dir), nested, 'moving bytes from one file to another changes it')
})
