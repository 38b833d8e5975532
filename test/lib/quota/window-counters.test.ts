import t from 'tap'
import { QuotaTables, WindowCounters } from '../../../lib/quota/window-counters'

t.test('a window opens at a key\'s first count and lasts windowMs', async t => {
  const counters = new WindowCounters(10)
  t.same(counters.incr('a', 1000, 5000), { current: 1, ttl: 1000 })
  t.same(counters.incr('a', 1000, 5400), { current: 2, ttl: 600 })
  t.same(counters.incr('b', 1000, 5400), { current: 1, ttl: 1000 }, 'keys count apart')
  t.same(counters.incr('a', 1000, 6000), { current: 1, ttl: 1000 }, 'a new window once it has passed')
})

t.test('a full table forgets the least recently counted key, and says so', async t => {
  const evicted: number[] = []
  const counters = new WindowCounters(3, () => evicted.push(1))
  for (const key of ['a', 'b', 'c']) counters.incr(key, 60_000)
  counters.incr('a', 60_000) // a is now the most recent
  counters.incr('d', 60_000)
  t.equal(counters.size, 3, 'never more keys than asked')
  t.equal(evicted.length, 1, 'one eviction reported')
  t.equal(counters.incr('a', 60_000).current, 3, 'the recent key kept its count')
  t.equal(counters.incr('b', 60_000).current, 1, 'the least recent one starts again')
})

t.test('subjects and addresses count in tables of their own', async t => {
  const evictions: string[] = []
  const tables = new QuotaTables(100, table => evictions.push(table))
  tables.incr('subjects', 'sub:alice', 60_000)
  for (let i = 0; i < 1000; i++) tables.incr('addresses', `ip:10.0.${i >> 8}.${i & 255}`, 60_000)
  t.equal(tables.size('addresses'), 100)
  t.equal(tables.size('subjects'), 1)
  t.equal(tables.incr('subjects', 'sub:alice', 60_000).current, 2, 'a thousand addresses did not push the subject out')
  t.equal(evictions.length, 900)
  t.ok(evictions.every(table => table === 'addresses'))
})
