// A run's measured cost: what placement decides on (lib/runtime/placement).

import { join } from 'node:path'
import t from 'tap'
import { OrtSession, runCostMs } from '../../../lib/runtime/ort-session'

t.test('a run costs the smaller of its wall and CPU time', async t => {
  t.equal(runCostMs(5, 40), 0.04, 'preempted: 5 ms on the wall clock, 40 µs of CPU')
  t.equal(runCostMs(0.05, 900), 0.05, 'another thread busy meanwhile: the wall time')
  t.equal(runCostMs(2, 2000), 2, 'a run that costs what it takes')
})

t.test('a real run reports a cost no longer than the call took', async t => {
  const session = OrtSession.open(join(__dirname, '..', '..', '..', 'models', 'iris', '1', 'model.onnx'), 1)
  t.teardown(() => session.release())
  const features = { type: 'float32' as const, dims: [1, 4], data: new Float32Array([5.1, 3.5, 1.4, 0.2]) }
  for (let i = 0; i < 20; i++) {
    const started = performance.now()
    const { ms } = session.run({ features }, ['label'])
    const took = performance.now() - started
    t.ok(ms >= 0 && ms <= took, `run ${i}: ${ms.toFixed(3)} ms within the ${took.toFixed(3)} ms of the call`)
  }
})
