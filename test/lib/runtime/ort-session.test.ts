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

t.test('the native session runs in the calling turn, and refuses what the model cannot answer', async t => {
  const session = OrtSession.open(join(__dirname, '..', '..', '..', 'models', 'iris', '1', 'model.onnx'), 1)
  t.teardown(() => session.release())
  t.same(session.metadata.inputs, [{ name: 'features', type: 'float32', shape: [-1, 4] }])
  const features = { type: 'float32' as const, dims: [2, 4], data: new Float32Array([5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3]) }
  let turnEnded = false
  setImmediate(() => { turnEnded = true })
  const { outputs } = session.run({ features }, ['label'])
  t.notOk(turnEnded, 'answered before the loop turned')
  t.same(outputs.label.dims, [2])
  t.same([...outputs.label.data as BigInt64Array], [0n, 2n], 'setosa, virginica')
  t.throws(() => session.run({ features }, ['nope']), { name: 'ModelRunError', message: /'nope' is not an output of the model/ })
  t.throws(() => session.run({ features: { ...features, dims: [2, 3] } }, ['label']), { name: 'ModelRunError', message: /features/ })
  t.same(session.run({ features }, ['label']).outputs.label.dims, [2], 'still runs after refusals')
})
