import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { maxConnectionsFor, openFilesLimit } from '../../../lib/config/open-files'

t.test('openFilesLimit reads the soft limit from /proc/self/limits', async t => {
  const dir = t.testdir()
  const limits = join(dir, 'limits')
  writeFileSync(limits, [
    'Limit                     Soft Limit           Hard Limit           Units',
    'Max processes             63448                63448                processes',
    'Max open files            20000                1048576              files',
    ''
  ].join('\n'))
  t.equal(openFilesLimit(limits), 20000)
  writeFileSync(limits, 'Max open files            unlimited            unlimited            files\n')
  t.equal(openFilesLimit(limits), undefined, 'unlimited is no number')
  t.equal(openFilesLimit(join(dir, 'missing')), undefined)
  t.type(openFilesLimit(), 'number', 'this machine has one')
})

t.test('defaultMaxConnections leaves room below the limit', async t => {
  t.equal(maxConnectionsFor(20000), 15936)
  t.equal(maxConnectionsFor(1024), 755)
  t.equal(maxConnectionsFor(50), 64, 'never below 64')
  t.equal(maxConnectionsFor(undefined), 10000, 'no limit known')
})
