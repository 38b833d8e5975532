// The README's configuration table names every variable the server reads, with its default.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { EnvSchema } from '../lib/config/env'

const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8')
const section = readme.slice(readme.indexOf('## Configuration\n'), readme.indexOf('\n## ', readme.indexOf('## Configuration\n') + 1))
const rows = new Map([...section.matchAll(/^\| `([A-Z_]+)` \| ([^|]+) \|/gm)].map(([, name, fallback]) => [name, fallback.trim()]))

t.test('every variable, once, with the schema\'s default', async t => {
  const names = Object.keys(EnvSchema.properties)
  t.strictSame([...rows.keys()], names, 'the table lists exactly the schema\'s variables, in its order')
  for (const [name, schema] of Object.entries(EnvSchema.properties) as Array<[string, { default?: unknown }]>) {
    if (schema.default !== undefined) t.equal(rows.get(name), `\`${String(schema.default)}\``, `${name}: its default`)
    else t.notMatch(rows.get(name) ?? '', /^`/, `${name}: no default value, so the cell says what happens`)
  }
})

t.test('.env.example names every variable too', async t => {
  const example = readFileSync(join(__dirname, '..', '.env.example'), 'utf8')
  for (const name of Object.keys(EnvSchema.properties)) t.match(example, new RegExp(`^#? ?${name}=`, 'm'), name)
})
