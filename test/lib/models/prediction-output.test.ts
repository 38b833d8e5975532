// What /predict returns without config.json's prediction_output: a
// classifier's label output, in whichever order the exporter put it.

import t from 'tap'
import { defaultPredictionOutput } from '../../../lib/models/version'
import type { TensorSpec } from '../../../lib/tensors/tensor'

const spec = (name: string, type: TensorSpec['type'], shape: number[]): TensorSpec => ({ name, type, shape })

t.test('a classifier\'s labels, before or after its scores', async t => {
  t.equal(defaultPredictionOutput([spec('output_label', 'int64', [-1]), spec('output_probability', 'float32', [-1, 3])]), 'output_label', 'skl2onnx\'s order')
  t.equal(defaultPredictionOutput([spec('probabilities', 'float32', [-1, 10]), spec('label', 'int64', [-1])]), 'label', 'scores first')
  t.equal(defaultPredictionOutput([spec('scores', 'float32', [-1, 2]), spec('class', 'string', [-1, 1])]), 'class', 'string labels, one column')
})

t.test('anything else: the first output', async t => {
  t.equal(defaultPredictionOutput([spec('y', 'float32', [-1, 1])]), 'y', 'a regressor')
  t.equal(defaultPredictionOutput([spec('a', 'int64', [-1]), spec('b', 'int64', [-1])]), 'a', 'no scores beside the integers')
  t.equal(defaultPredictionOutput([spec('logits', 'float32', [-1, 5]), spec('labels', 'int64', [-1, 5])]), 'logits', 'integers of several per row are no label')
  t.equal(defaultPredictionOutput([spec('total', 'float64', [-1, 1]), spec('rounded', 'int64', [-1, 1])]), 'total', 'an integer beside a float, not named a label')
})
