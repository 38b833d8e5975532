import { performance } from 'node:perf_hooks'
import t, { type Test } from 'tap'
import { InferencePool } from '../../../lib/runtime/inference-pool'
import type { TimedRun } from '../../../lib/runtime/model-runtime'
import { ModelManager, type ModelManagerOptions } from '../../../lib/models/manager'
import type { TensorMap } from '../../../lib/tensors/tensor'
import { fixtureRepository } from '../../helpers/build-app'

/** A pool whose runs of one session wait at a gate, and which records what it unloads. */
class GatedPool extends InferencePool {
  gated = ''
  gate: Promise<void> = Promise.resolve()
  unloaded: string[] = []

  override async runTimed (key: string, feeds: TensorMap, fetches: string[], deadline?: number): Promise<TimedRun> {
    if (key === this.gated) await this.gate
    return await super.runTimed(key, feeds, fetches, deadline)
  }

  override async unload (key: string): Promise<void> {
    this.unloaded.push(key)
    return super.unload(key)
  }

  /** Holds the runs of `key` until the returned function is called. */
  closeGate (key: string): () => void {
    let open: () => void = () => {}
    this.gated = key
    this.gate = new Promise(resolve => { open = resolve })
    return open
  }
}

/** A gated pool and a manager over a fresh fixture repository, loaded; closed after the test. */
async function loadedManager (t: Test, options: Partial<ModelManagerOptions> = {}): Promise<{ pool: GatedPool, manager: ModelManager }> {
  const pool = new GatedPool({ workers: 1, threadsPerSession: 1, maxPending: 8, timeoutMs: 30_000 })
  const manager = new ModelManager(pool, { repository: fixtureRepository(t), ...options })
  t.teardown(() => manager.close())
  await manager.loadAll()
  return { pool, manager }
}

t.test('a reload releases the old sessions only once the runs holding them are answered', async t => {
  const { pool, manager } = await loadedManager(t)
  const old = manager.registry.get('mixed')
  const open = pool.closeGate(old.key)
  const feeds: TensorMap = {
    a: { type: 'float64', dims: [1, 2], data: Float64Array.of(1.5, 2) },
    b: { type: 'int64', dims: [1, 1], data: BigInt64Array.of(3n) },
    c: { type: 'int32', dims: [1], data: Int32Array.of(7) },
    flag: { type: 'bool', dims: [1, 1], data: Uint8Array.of(1) }
  }
  const running = manager.run(old, feeds)
  t.equal(old.inflight, 1, 'the run holds the old version')

  const reloading = manager.load('mixed')
  // Until the reload has loaded and warmed up its new sessions (with one
  // worker, a new thread opens every session beside it: a few seconds).
  for (let i = 0; i < 200 && manager.registry.get('mixed').key === old.key; i++) await new Promise(resolve => setTimeout(resolve, 50))
  t.not(manager.registry.get('mixed').key, old.key, 'the new version already serves')
  t.notOk(pool.unloaded.includes(old.key), 'the old one is not released while a run holds it')

  open()
  const outputs = await running
  t.same(Array.from(outputs.total.data as Float64Array), [6.5], 'the held run is answered by the old session')
  const entry = await reloading
  t.equal(entry.state, 'READY')
  t.ok(pool.unloaded.includes(old.key), 'released after')
  t.not(manager.registry.get('mixed').key, old.key, 'the new sessions serve under a new key')
})

t.test('a release waits for a run that never ends only as long as the drain bound (INFERENCE_TIMEOUT_MS)', async t => {
  const { pool, manager } = await loadedManager(t, { drainTimeoutMs: 300 })
  const model = manager.registry.get('sum')
  const open = pool.closeGate(model.key)
  // Held at the gate, before the pool (and its timeout) ever sees it.
  const stuck = manager.run(model, { x: { type: 'float32', dims: [1, 3], data: Float32Array.of(1, 2, 3) } }).catch((error: Error) => error)
  const start = performance.now()
  const entry = await manager.unload('sum')
  const waited = performance.now() - start
  t.ok(waited >= 250 && waited < 5000, `the unload went ahead after the bound (${Math.round(waited)} ms)`)
  t.equal(entry.reason, 'unloaded')
  t.equal(model.inflight, 1, 'the run still held the version')
  t.ok(pool.unloaded.includes(model.key), 'its session was released')
  open()
  t.match(await stuck, { message: `model ${model.key} is not loaded in this worker` }, 'the straggler fails alone')
})
