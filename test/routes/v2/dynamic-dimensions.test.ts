import t from 'tap'
import { buildApp } from '../../helpers/build-app'
import { windowSumModel, windowSums, writeModelFolder } from '../../helpers/fixture-repository'

// An image model whose height and width are dynamic: served without a
// warm-up (no size is guessed for it), at whatever size each request has.
t.test('a 3×3 convolution over images of any size, through POST /v2/models/:name/infer', async t => {
  const repository = t.testdir()
  writeModelFolder(repository, 'window-sum', windowSumModel())
  const app = await buildApp(t, { MODEL_REPOSITORY: repository })

  t.equal((await app.inject({ url: '/v2/health/ready' })).statusCode, 200, 'ready')
  t.same((await app.inject({ url: '/v2/models/window-sum' })).json().inputs, [{ name: 'image', datatype: 'FP32', shape: [-1, 1, -1, -1] }])

  for (const [height, width] of [[5, 5], [8, 6]]) {
    const image = Array.from({ length: height * width }, (_, i) => (i * 3) % 11 - 4)
    const res = await app.inject({
      method: 'POST',
      url: '/v2/models/window-sum/infer',
      payload: { inputs: [{ name: 'image', shape: [1, 1, height, width], datatype: 'FP32', data: image }] }
    })
    t.equal(res.statusCode, 200, `${height}×${width}: 200`)
    t.same(res.json(), {
      model_name: 'window-sum',
      model_version: '1',
      outputs: [{ name: 'sums', datatype: 'FP32', shape: [1, 1, height - 2, width - 2], data: windowSums(image, height, width) }]
    }, `${height}×${width}: each 3×3 window summed`)
  }
})
