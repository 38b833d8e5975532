import t from 'tap'
import { InferencePool } from '../../lib/inference-pool'
import { ModelManager } from '../../lib/model-manager'
import type { TensorMap } from '../../lib/tensor'
import { fixtureRepository } from '../helpers/build-app'

/** A pool whose runs of one session wait at a gate, and which records what it unloads. */
class GatedPool extends InferencePool {
  gated = ''
  gate: Promise<void> = Promise.resolve()
  unloaded: string[] = []

  override async run (key: string, feeds: TensorMap, fetches: string[]): Promise<TensorMap> {
    if (key === this.gated) await this.gate
    return super.run(key, feeds, fetches)
  }

  override async unload (key: string): Promise<void> {
    this.unloaded.push(key)
    return super.unload(key)
  }
}

t.test('a reload releases the old sessions only once the runs holding them are answered', async t => {
  const pool = new GatedPool({ workers: 1, threadsPerSession: 1, maxPending: 8, timeoutMs: 30_000 })
  const manager = new ModelManager(pool, { repository: fixtureRepository(t) })
  t.teardown(() => manager.close())
  await manager.loadAll()
  const old = manager.get('mixed')

  let open: () => void = () => {}
  pool.gated = old.key
  pool.gate = new Promise(resolve => { open = resolve })
  const feeds: TensorMap = {
    a: { type: 'float64', dims: [1, 2], data: Float64Array.of(1.5, 2) },
    b: { type: 'int64', dims: [1, 1], data: BigInt64Array.of(3n) },
    c: { type: 'int32', dims: [1], data: Int32Array.of(7) },
    flag: { type: 'bool', dims: [1, 1], data: Uint8Array.of(1) }
  }
  const running = manager.run(old, feeds)
  t.equal(old.inflight, 1, 'the run holds the old version')

  const reloading = manager.load('mixed')
  // Long enough for the reload to load and warm up its new sessions.
  await new Promise(resolve => setTimeout(resolve, 1000))
  t.not(manager.get('mixed').key, old.key, 'the new version already serves')
  t.notOk(pool.unloaded.includes(old.key), 'the old one is not released while a run holds it')

  open()
  const { outputs } = await running
  t.same(Array.from(outputs.total.data as Float64Array), [6.5], 'the held run is answered by the old session')
  const entry = await reloading
  t.equal(entry.state, 'READY')
  t.ok(pool.unloaded.includes(old.key), 'released after')
  t.not(manager.get('mixed').key, old.key, 'the new sessions serve under a new key')
})
