import t from 'tap'
import { RestartPolicy, defaultRestartPolicy } from '../../../lib/cluster/restart-policy'

const options = { minUptimeMs: 1000, baseDelayMs: 100, maxDelayMs: 350, maxEarlyExits: 4 }

t.test('a process that had been serving is replaced at once', async t => {
  const policy = new RestartPolicy(options)
  for (let i = 0; i < 10; i++) t.strictSame(policy.onUnexpectedExit(5000), { restart: true, delayMs: 0, earlyExits: 0 })
})

t.test('early deaths in a row back off, then the primary gives up', async t => {
  const policy = new RestartPolicy(options)
  t.strictSame(policy.onUnexpectedExit(10), { restart: true, delayMs: 100, earlyExits: 1 })
  t.strictSame(policy.onUnexpectedExit(10), { restart: true, delayMs: 200, earlyExits: 2 })
  t.strictSame(policy.onUnexpectedExit(10), { restart: true, delayMs: 350, earlyExits: 3 }, 'the delay is capped')
  t.strictSame(policy.onUnexpectedExit(10), { restart: false, earlyExits: 4 })
})

t.test('a process that served long enough resets the count', async t => {
  const policy = new RestartPolicy(options)
  policy.onUnexpectedExit(10)
  policy.onUnexpectedExit(10)
  t.strictSame(policy.onUnexpectedExit(1000), { restart: true, delayMs: 0, earlyExits: 0 })
  t.strictSame(policy.onUnexpectedExit(10), { restart: true, delayMs: 100, earlyExits: 1 }, 'counting starts again')
})

t.test('the defaults: 10 s of uptime counts as serving; five early deaths in a row give up', async t => {
  const policy = new RestartPolicy()
  t.equal(defaultRestartPolicy.minUptimeMs, 10_000)
  const delays = [1, 2, 3, 4].map(() => policy.onUnexpectedExit(0))
  t.strictSame(delays.map(decision => decision.restart ? decision.delayMs : -1), [250, 500, 1000, 2000])
  t.equal(policy.onUnexpectedExit(0).restart, false)
})
