import t from 'tap'
import { getHeapStatistics } from 'node:v8'
import { setTimeout as sleep } from 'node:timers/promises'
import { blockedAddresses } from '../../../lib/auth/blocked-addresses'

t.test('at most maxAddresses, the least recently blocked forgotten first', async t => {
  const blocked = blockedAddresses(3, 60_000)
  for (const address of ['a', 'b', 'c', 'd']) blocked.set(address, true)
  t.equal(blocked.size, 3)
  t.notOk(blocked.has('a'), 'the oldest is forgotten')
  t.ok(blocked.has('d'))
  t.ok(blocked.getRemainingTTL('d') > 59_000, 'blocked until its window ends')
})

t.test('an address is unblocked when its window ends', async t => {
  const blocked = blockedAddresses(10, 30)
  blocked.set('a', true)
  await sleep(60)
  t.ok(blocked.getRemainingTTL('a') <= 0, 'no time left: auth refuses only while it is above 0')
  t.equal(blocked.get('a'), undefined)
})

t.test('an empty table allocates nothing for the addresses it may hold', async t => {
  const tables: unknown[] = []
  const before = getHeapStatistics().used_heap_size
  for (let i = 0; i < 5; i++) tables.push(blockedAddresses(100_000, 60_000))
  const grown = getHeapStatistics().used_heap_size - before
  // lru-cache's `max` would preallocate 3.2 MB a table here: 16 MB for five.
  t.ok(grown < 2_000_000, `five tables of 100,000 took ${grown} bytes`)
  t.equal(tables.length, 5)
})
