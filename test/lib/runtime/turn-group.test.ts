// The turn group of unbatched runs: at once while each turn holds one
// request, gathered to the end of the turn once a turn holds more, each run
// still its own and settled to its own caller, and back to at once after a
// streak of single-request turns.

import t from 'tap'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { SINGLE_TURNS_TO_START_AT_ONCE, TurnGroup } from '../../../lib/runtime/turn-group'

/** A run that notes when it starts, and answers its own value. */
function recorder (): { started: string[], run: (name: string) => () => Promise<string> } {
  const started: string[] = []
  return { started, run: name => async () => { started.push(name); return `answer ${name}` } }
}

/** A group that has seen a turn of two runs: it gathers. */
async function gatheringGroup (): Promise<TurnGroup> {
  const group = new TurnGroup()
  const { run } = recorder()
  await Promise.all([group.run(run('a')), group.run(run('b'))])
  await nextTurn()
  return group
}

t.test('one run a turn starts at once, in the caller\'s own turn', async t => {
  const group = new TurnGroup()
  const { started, run } = recorder()
  for (const name of ['a', 'b', 'c']) {
    const answer = group.run(run(name))
    t.same(started.at(-1), name, `${name} started before run() returned`)
    t.equal(await answer, `answer ${name}`)
    await nextTurn()
  }
  t.equal(group.gathers, false)
})

t.test('after a turn that started two runs, the runs of a turn start together at its end', async t => {
  const group = await gatheringGroup()
  t.equal(group.gathers, true)
  const { started, run } = recorder()
  const answers = ['x', 'y', 'z'].map(name => group.run(run(name)))
  t.same(started, [], 'none started while the turn was still parsing requests')
  await nextTurn()
  t.same(started, ['x', 'y', 'z'], 'all started at the end of the turn, in the order they came')
  t.same(await Promise.all(answers), ['answer x', 'answer y', 'answer z'], 'each caller got its own answer')
})

t.test('a failed run fails only its own caller', async t => {
  const group = await gatheringGroup()
  const rejecting = group.run(async () => { throw new Error('rejected run') })
  const throwing = group.run(() => { throw new Error('thrown before its promise') })
  const fine = group.run(async () => 'fine')
  await t.rejects(rejecting, /rejected run/)
  await t.rejects(throwing, /thrown before its promise/)
  t.equal(await fine, 'fine')
})

t.test(`${SINGLE_TURNS_TO_START_AT_ONCE} turns of one request in a row bring back starting at once`, async t => {
  const group = await gatheringGroup()
  const { started, run } = recorder()
  for (let turn = 1; turn <= SINGLE_TURNS_TO_START_AT_ONCE; turn++) {
    const answer = group.run(run(`single ${turn}`))
    t.equal(started.length, turn - 1, `turn ${turn}: the run waits for the end of the turn`)
    await answer
    await nextTurn()
  }
  t.equal(group.gathers, false)
  const answer = group.run(run('at once'))
  t.equal(started.at(-1), 'at once', 'started before run() returned')
  await answer
})

t.test('a turn of two among single ones keeps the group gathering', async t => {
  const group = await gatheringGroup()
  const { run } = recorder()
  for (let turn = 1; turn < SINGLE_TURNS_TO_START_AT_ONCE; turn++) {
    await group.run(run(`single ${turn}`))
    await nextTurn()
  }
  await Promise.all([group.run(run('pair 1')), group.run(run('pair 2'))])
  await nextTurn()
  for (let turn = 1; turn < SINGLE_TURNS_TO_START_AT_ONCE; turn++) {
    await group.run(run(`single again ${turn}`))
    await nextTurn()
  }
  t.equal(group.gathers, true, 'the streak of single turns started again after the pair')
})

t.test('while starting at once, only the first run of a turn does: the turn\'s others wait for its end', async t => {
  const group = new TurnGroup()
  const { started, run } = recorder()
  const first = group.run(run('first'))
  const second = group.run(run('second'))
  t.same(started, ['first'], 'the second waits')
  await nextTurn()
  t.same(started, ['first', 'second'], 'and starts at the end of the turn')
  t.same(await Promise.all([first, second]), ['answer first', 'answer second'])
  t.equal(group.gathers, true, 'a turn of two: gathering from now on')
})

t.test('a request a batcher queued after a run started at once counts in the turn; alone, it does not', async t => {
  const group = new TurnGroup()
  const { run } = recorder()
  group.joined()
  await nextTurn()
  t.equal(group.gathers, false, 'no run started at once in that turn: nothing to count')
  await group.run(run('at once'))
  t.equal(group.atOnce, false, 'a run started at once: the next of the turn would not')
  group.joined()
  await nextTurn()
  t.equal(group.gathers, true, 'one at once and one in the batcher: a turn of two')
  t.equal(group.atOnce, false)
})
