import t from 'tap'
import { MemoryCacheClient, type CacheClient } from '../../../lib/cache/cache-store'
import { PredictionCache, decodeEntry, encodeEntry, predictionKey, type CacheableModel } from '../../../lib/cache/prediction-cache'
import type { TensorMap } from '../../../lib/tensors/tensor'

const model: CacheableModel = { name: 'm', version: 1, digest: 'abc' }
const feeds = (values: number[]): TensorMap => ({ x: { type: 'float32', dims: [1, values.length], data: Float32Array.from(values) } })
const store = (): MemoryCacheClient => new MemoryCacheClient({ maxEntries: 100, maxBytes: 1024 * 1024 })

t.test('the key: model identity, input tensors and outputs; nothing else', async t => {
  const key = predictionKey(model, feeds([1, 2]), ['y'])
  t.match(key, /^m\/1\/[\w-]{43}$/, 'the version prefix, then a SHA-256')
  t.equal(predictionKey(model, feeds([1, 2]), ['y']), key, 'the same request, the same key')
  t.equal(predictionKey(model, { ...feeds([1, 2]) }, ['y']), key)
  const differs: Array<[string, string]> = [
    ['another value', predictionKey(model, feeds([1, 3]), ['y'])],
    ['another shape', predictionKey(model, { x: { type: 'float32', dims: [2, 1], data: Float32Array.from([1, 2]) } }, ['y'])],
    ['another type, same bytes', predictionKey(model, { x: { type: 'int32', dims: [1, 2], data: new Int32Array(Float32Array.from([1, 2]).buffer) } }, ['y'])],
    ['another output', predictionKey(model, feeds([1, 2]), ['z'])],
    ['another version', predictionKey({ ...model, version: 2 }, feeds([1, 2]), ['y'])],
    ['another model file', predictionKey({ ...model, digest: 'abd' }, feeds([1, 2]), ['y'])],
    ['another input name', predictionKey(model, { w: feeds([1, 2]).x }, ['y'])]
  ]
  for (const [what, other] of differs) t.not(other, key, what)
  const strings = (data: string[]): string => predictionKey(model, { s: { type: 'string', dims: [data.length], data } }, ['y'])
  t.not(strings(['ab', 'c']), strings(['a', 'bc']), 'string boundaries count')
})

t.test('an entry decodes to the outputs it was made of, and only for its own key and model', async t => {
  const outputs: TensorMap = {
    f32: { type: 'float32', dims: [2, 2], data: Float32Array.from([1.5, -2, 3, 4]) },
    f64: { type: 'float64', dims: [1], data: Float64Array.from([Math.PI]) },
    i64: { type: 'int64', dims: [3], data: BigInt64Array.from([1n, -2n, 2n ** 62n]) },
    u8: { type: 'bool', dims: [3], data: Uint8Array.from([1, 0, 1]) },
    f16: { type: 'float16', dims: [1], data: Uint16Array.from([0x3c00]) },
    text: { type: 'string', dims: [2], data: ['setosa', 'é ✓'] }
  }
  const key = predictionKey(model, feeds([1]), Object.keys(outputs))
  const entry = encodeEntry(key, model, outputs)
  // An entry read from Redis sits at any offset in its buffer.
  const shifted = Buffer.concat([Buffer.alloc(3), entry]).subarray(3)
  t.strictSame(decodeEntry(shifted, key, model), outputs, 'every type, at any alignment')
  t.equal(decodeEntry(entry, 'other', model), undefined, 'another key')
  t.equal(decodeEntry(entry, key, { ...model, digest: 'zzz' }), undefined, 'another model file')
  t.equal(decodeEntry(entry, key, { ...model, version: 2 }), undefined, 'another version')
  t.equal(decodeEntry(entry.subarray(0, entry.length - 1), key, model), undefined, 'cut short')
  t.equal(decodeEntry(Buffer.concat([entry, Buffer.alloc(1)]), key, model), undefined, 'trailing bytes')
  t.equal(decodeEntry(Buffer.from([0, 0, 0, 9, 123, 125]), key, model), undefined, 'a header longer than the entry')
  t.equal(decodeEntry(Buffer.from([0, 0, 0, 1, 123]), key, model), undefined, 'a header that is not JSON')
  t.equal(decodeEntry(Buffer.alloc(2), key, model), undefined, 'no header length')
})

t.test('a miss runs and stores; the same request then hits; an error reaches every waiter', async t => {
  const cache = new PredictionCache(store(), { ttlMs: 60_000, maxEntryBytes: 1024 })
  let runs = 0
  const compute = async (): Promise<TensorMap> => {
    runs++
    await new Promise(resolve => setTimeout(resolve, 5))
    return { y: { type: 'float32', dims: [1, 1], data: Float32Array.from([runs]) } }
  }
  const first = await cache.run(model, feeds([1]), ['y'], compute)
  t.equal(first.cache, 'MISS')
  await new Promise(resolve => setImmediate(resolve))
  const second = await cache.run(model, feeds([1]), ['y'], compute)
  t.equal(second.cache, 'HIT')
  t.strictSame(second.outputs, first.outputs)
  t.equal(runs, 1)

  const failing = async (): Promise<TensorMap> => {
    runs++
    await new Promise(resolve => setTimeout(resolve, 5))
    throw new Error('bad row')
  }
  const results = await Promise.allSettled([1, 2, 3].map(() => cache.run(model, feeds([9]), ['y'], failing)))
  t.strictSame(results.map(result => result.status), ['rejected', 'rejected', 'rejected'], 'the waiters share the failure')
  t.equal(runs, 2, 'of one run')
  t.equal((await cache.run(model, feeds([9]), ['y'], compute)).cache, 'MISS', 'a failure is not stored')
})

t.test('outputs above maxEntryBytes are served but not stored', async t => {
  const cache = new PredictionCache(store(), { ttlMs: 60_000, maxEntryBytes: 256 })
  const big = async (): Promise<TensorMap> => ({ y: { type: 'float32', dims: [1, 100], data: new Float32Array(100) } })
  t.equal((await cache.run(model, feeds([1]), ['y'], big)).cache, 'MISS')
  t.equal((await cache.run(model, feeds([1]), ['y'], big)).cache, 'MISS')
})

t.test('a failing store is a miss, never an error', async t => {
  const broken: CacheClient = {
    await: true,
    get: async () => { throw new Error('down') },
    set: async () => { throw new Error('down') },
    has: async () => false,
    delete: async () => {},
    deletePrefix: async () => 0
  }
  const cache = new PredictionCache(broken, { ttlMs: 60_000, maxEntryBytes: 1024 })
  const result = await cache.run(model, feeds([1]), ['y'], async () => feeds([2]))
  t.equal(result.cache, 'MISS')
  t.strictSame(result.outputs, feeds([2]))
})
