import { cpSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { bundledRepository } from '../helpers/build-app'
import { buildLoggedApp, type LogLine } from '../helpers/logged-app'

t.test("the 'model ready' line lists the versions served ascending, a fallback's too", async t => {
  const dir = t.testdir()
  for (const version of [1, 2, 3]) {
    mkdirSync(join(dir, 'iris', String(version)), { recursive: true })
    cpSync(join(bundledRepository, 'iris', '1', 'model.onnx'), join(dir, 'iris', String(version), 'model.onnx'))
  }
  // The newest of the two the policy asks for cannot load: version 1 stands in, loaded after 2.
  writeFileSync(join(dir, 'iris', '3', 'model.onnx'), 'not an ONNX file')
  writeFileSync(join(dir, 'iris', 'config.json'), JSON.stringify({ version_policy: { latest: 2 } }))
  const { raw } = await buildLoggedApp(t, { MODEL_REPOSITORY: dir })
  const ready = raw.map(line => JSON.parse(line) as LogLine).find(line => line.msg === 'model ready' && line.model === 'iris')
  t.ok(ready, "a 'model ready' line for iris")
  t.same(ready?.versions, [1, 2])
})
