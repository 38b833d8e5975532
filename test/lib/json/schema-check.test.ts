import t from 'tap'
import { Type } from '@sinclair/typebox'
import { InputError } from '../../../lib/errors'
import { fieldOf, schemaCheck } from '../../../lib/json/schema-check'

const check = schemaCheck(Type.Object({
  id: Type.Optional(Type.String()),
  inputs: Type.Array(Type.Object({
    name: Type.String({ description: 'an input name' }),
    shape: Type.Array(Type.Integer({ minimum: 0 }))
  }), { description: 'an array of inputs' }),
  flag: Type.Optional(Type.Boolean()),
  count: Type.Optional(Type.Integer()),
  ratio: Type.Optional(Type.Number()),
  tags: Type.Optional(Type.Array(Type.String())),
  extra: Type.Optional(Type.Object({}))
}, { description: 'an object with inputs' }))

t.test('a JSON pointer as the protocol writes a field', async t => {
  t.equal(fieldOf(''), 'body')
  t.equal(fieldOf('/inputs'), 'inputs')
  t.equal(fieldOf('/inputs/0/shape/1'), 'inputs[0].shape[1]')
  t.equal(fieldOf('/a~1b/c~0d'), 'a/b.c~d', 'escaped / and ~')
})

t.test('a value that matches comes back typed', async t => {
  const value = { inputs: [{ name: 'x', shape: [1, 2] }] }
  t.equal(check(value), value)
})

t.test('the first problem names the field, the expected and the received', async t => {
  const refuses = (value: unknown, field: string, message: string): void => {
    t.throws(() => check(value), new InputError(field, message), message)
  }
  refuses([], 'body', 'body: expected an object with inputs, received an array of 0')
  refuses({}, 'inputs', 'inputs: missing; expected an array of inputs')
  refuses({ inputs: 'x' }, 'inputs', 'inputs: expected an array of inputs, received a string')
  refuses({ inputs: [{ shape: [] }] }, 'inputs[0].name', 'inputs[0].name: missing; expected an input name')
  refuses({ inputs: [{ name: 'x', shape: [1, -1] }] }, 'inputs[0].shape[1]', 'inputs[0].shape[1]: expected a non-negative integer, received the number -1')
  const ok = [{ name: 'x', shape: [] }]
  refuses({ inputs: ok, id: 3 }, 'id', 'id: expected a string, received the number 3')
  refuses({ inputs: ok, flag: 'yes' }, 'flag', 'flag: expected a boolean, received a string')
  refuses({ inputs: ok, count: 1.5 }, 'count', 'count: expected an integer, received the number 1.5')
  refuses({ inputs: ok, ratio: null }, 'ratio', 'ratio: expected a number, received null')
  refuses({ inputs: ok, tags: {} }, 'tags', 'tags: expected an array, received an object')
  refuses({ inputs: ok, extra: [] }, 'extra', 'extra: expected an object, received an array of 0')
})
