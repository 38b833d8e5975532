import t from 'tap'
import { evictionWarning } from '../../../lib/quota/eviction-warning'

t.test('evictions are logged at most once per interval and table, with the count since the last line', async t => {
  const lines: Array<{ facts: Record<string, unknown>, message: string }> = []
  const warn = evictionWarning({ warn: (facts, message) => lines.push({ facts: facts as Record<string, unknown>, message }) }, 500, 200)
  warn('addresses')
  warn('addresses')
  warn('subjects')
  t.equal(lines.length, 2, 'the first of each table is logged at once')
  t.match(lines[0], { facts: { table: 'addresses', evicted: 1, rateLimitKeys: 500 }, message: /raise RATE_LIMIT_KEYS/ })
  await new Promise(resolve => setTimeout(resolve, 250))
  warn('addresses')
  t.equal(lines.length, 3)
  t.match(lines[2].facts, { table: 'addresses', evicted: 2 }, 'the one held back is counted in the next line')
})
