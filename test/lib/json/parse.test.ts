import t from 'tap'
import { InputError } from '../../../lib/errors'
import { MAX_JSON_DEPTH, POISONED_BODY, hasPoisonedKeys, nestedDeeperThan, parseJsonBody } from '../../../lib/json/parse'

t.test('JSON text becomes its value; text that is not JSON is a SyntaxError', async t => {
  t.same(parseJsonBody('{"a": [1, 2]}'), { a: [1, 2] })
  t.same(parseJsonBody('\uFEFF{"a": 1}'), { a: 1 }, 'a leading byte order mark is skipped')
  t.equal(parseJsonBody('3'), 3)
  t.throws(() => parseJsonBody('{"a": '), SyntaxError)
})

t.test('prototype-poisoning keys are refused at any depth, escaped or not', async t => {
  for (const text of [
    '{"__proto__": {"x": 1}}',
    '{"a": [{"b": {"__proto__": 1}}]}',
    '{"\\u005f_proto__": 1}',
    '{"constructor": {"prototype": {"x": 1}}}',
    '[{"c": {"constructor": {"prototype": null}}}]'
  ]) {
    t.throws(() => parseJsonBody(text), new InputError('body', POISONED_BODY), text)
  }
})

t.test('harmless look-alikes are data', async t => {
  t.same(parseJsonBody('{"constructor": "fine", "proto": 1}'), { constructor: 'fine', proto: 1 })
  t.same(parseJsonBody('{"constructor": {"name": "x"}}'), { constructor: { name: 'x' } })
  t.same(parseJsonBody('{"text": "__proto__"}'), { text: '__proto__' }, 'a value, not a key')
  t.notOk(hasPoisonedKeys({ a: [{ b: 1 }], c: null }))
  t.notOk(hasPoisonedKeys([]), 'an array\'s constructor is inherited, not a key')
  t.ok(hasPoisonedKeys(JSON.parse('{"constructor": {"prototype": {}}}')))
})

t.test('nesting deeper than any request needs is refused before it is parsed', async t => {
  t.equal(nestedDeeperThan('{"a":[[1]]}', 3), false, 'three levels')
  t.equal(nestedDeeperThan('{"a":[[[1]]]}', 3), true, 'four')
  t.equal(nestedDeeperThan('{"a":"[[[[\\"[[[","b":[[1]]}', 3), false, 'brackets and escaped quotes inside strings do not count')
  t.equal(nestedDeeperThan('[1],[2],[3],[4],[5]', 1), false, 'siblings are not nesting')
  t.equal(nestedDeeperThan('"an unterminated string [[[[', 1), false, 'left to JSON.parse to refuse')
  t.throws(() => parseJsonBody('['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1)), { constructor: InputError, message: `body: JSON nested more than ${MAX_JSON_DEPTH} levels deep; no request needs that` })
  t.strictSame(parseJsonBody('['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH)), JSON.parse('['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH)), 'at the limit, parsed')
})
