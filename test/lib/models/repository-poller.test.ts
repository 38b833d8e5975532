// The poll mode's rules (lib/models/repository-poller), on scripted scans:
// a difference is applied once two scans in a row see it the same; a folder
// gone is unloaded; an unreadable repository changes nothing.

import t from 'tap'
import { RepositoryPoller, type RepositoryChange } from '../../../lib/models/repository-poller'

function scripted (t: tap.Test, scans: Array<Record<string, string> | Error>): { poller: RepositoryPoller, applied: RepositoryChange[], errors: string[] } {
  const applied: RepositoryChange[] = []
  const errors: string[] = []
  let next = 0
  // A period no test waits for: the tests drive the scans with poll().
  const poller = new RepositoryPoller({
    intervalMs: 60_000,
    scan: async () => {
      const scan = scans[next++]
      if (scan instanceof Error) throw scan
      return new Map(Object.entries(scan))
    },
    apply: async change => {
      if (change.name === 'throws') throw new Error('boom')
      applied.push(change)
    },
    onError: change => errors.push(change.name)
  })
  t.teardown(async () => await poller.stop())
  return { poller, applied, errors }
}

t.test('a change is applied when two scans in a row see it the same', async t => {
  const { poller, applied } = scripted(t, [
    { a: 'v1', b: 'v2-partial' }, // b is being written
    { a: 'v1', b: 'v2-more' }, // still
    { a: 'v1', b: 'v2' },
    { a: 'v1', b: 'v2' }, // the same twice: applied
    { a: 'v1', b: 'v2' } // nothing new
  ])
  poller.start(new Map([['a', 'v1'], ['b', 'v1']]))
  for (let i = 0; i < 3; i++) await poller.poll()
  t.same(applied, [], 'a file whose size or time changes between scans is never loaded')
  await poller.poll()
  t.same(applied, [{ name: 'b', kind: 'load' }])
  await poller.poll()
  t.same(applied, [{ name: 'b', kind: 'load' }], 'applied once')
})

t.test('new folders load, folders gone unload, both after two scans', async t => {
  const { poller, applied } = scripted(t, [
    { a: 'v1', c: 'new' },
    { a: 'v1', c: 'new' },
    { c: 'new' },
    { c: 'new' }
  ])
  poller.start(new Map([['a', 'v1']]))
  await poller.poll()
  await poller.poll()
  t.same(applied, [{ name: 'c', kind: 'load' }])
  await poller.poll()
  t.same(applied, [{ name: 'c', kind: 'load' }], 'a folder missing from one scan is not unloaded yet (a sync renaming it back)')
  await poller.poll()
  t.same(applied, [{ name: 'c', kind: 'load' }, { name: 'a', kind: 'unload' }])
})

t.test('a folder that comes back as it was is left alone', async t => {
  const { poller, applied } = scripted(t, [{}, { a: 'v1' }, { a: 'v1' }])
  poller.start(new Map([['a', 'v1']]))
  for (let i = 0; i < 3; i++) await poller.poll()
  t.same(applied, [])
})

t.test('an unreadable repository changes nothing; a failing apply is reported and not retried', async t => {
  const { poller, applied, errors } = scripted(t, [
    new Error('EIO'),
    new Error('EIO'),
    { a: 'v1', throws: 'x' },
    { a: 'v1', throws: 'x' },
    { a: 'v1', throws: 'x' }
  ])
  poller.start(new Map([['a', 'v1']]))
  for (let i = 0; i < 5; i++) await poller.poll()
  t.same(applied, [], 'nothing unloaded while the repository could not be listed')
  t.same(errors, ['throws'], 'reported once')
})

t.test('started, it scans on its own period until stopped', async t => {
  let scans = 0
  const poller = new RepositoryPoller({ intervalMs: 20, scan: async () => { scans++; return new Map() }, apply: async () => {} })
  poller.start(new Map())
  await new Promise(resolve => setTimeout(resolve, 200))
  await poller.stop()
  const seen = scans
  t.ok(seen >= 2, `${seen} scans`)
  await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(scans, seen, 'none after stop')
})
