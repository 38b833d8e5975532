import t from 'tap'
import { batchRows } from '../../../lib/data-plane/batch-rows'
import { InputError } from '../../../lib/errors'
import type { TensorMap } from '../../../lib/tensors/tensor'

const model = (firstDims: number[], maxBatchSize?: number) => ({
  name: 'm',
  config: maxBatchSize === undefined ? {} : { max_batch_size: maxBatchSize },
  inputs: firstDims.map((dim, i) => ({ name: `in${i}`, type: 'float32' as const, shape: [dim, 2] }))
})
const feeds = (...rows: number[]): TensorMap => Object.fromEntries(rows.map((n, i) => [`in${i}`, { type: 'float32', dims: [n, 2], data: new Float32Array(n * 2) }]))

t.test('a model with a batch dimension counts the rows its inputs agree on', async t => {
  t.equal(batchRows(model([-1, -1]), feeds(3, 3), { field: 'inputs', rows: false, maxRows: 10 }), 3)
  t.throws(() => batchRows(model([-1, -1]), feeds(3, 2), { field: 'inputs', rows: false, maxRows: 10 }),
    new InputError('inputs', 'inputs: every input must carry the same number of rows (batch size); \'in0\' has 3, \'in1\' has 2'))
})

t.test('the smaller of max_batch_size and MAX_ROWS bounds them', async t => {
  t.equal(batchRows(model([-1], 2), feeds(2), { field: 'instances', rows: true, maxRows: 10 }), 2)
  t.throws(() => batchRows(model([-1], 2), feeds(3), { field: 'instances', rows: true, maxRows: 10 }),
    new InputError('instances', 'instances: at most 2 rows per request for model \'m\', received 3'))
  t.throws(() => batchRows(model([-1]), feeds(2), { field: 'input_data', rows: true, maxRows: 1 }),
    new InputError('input_data', 'input_data: at most 1 row per request for model \'m\', received 2'))
})

t.test('without a batch dimension a v2 request is one row; a row framing still counts its rows', async t => {
  t.equal(batchRows(model([5]), feeds(5), { field: 'inputs', rows: false, maxRows: 1 }), 1)
  t.equal(batchRows(model([5]), feeds(5), { field: 'instances', rows: true, maxRows: 10 }), 5)
})
