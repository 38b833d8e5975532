import t from 'tap'
import { buildApp, fixtureRepository } from '../helpers/build-app'
import { name, version } from '../../package.json'

const links = {
  docs: '/docs',
  openapi: '/docs/json',
  models: '/v1/models',
  predict: '/predict',
  live: '/health/live',
  ready: '/health/ready'
}

t.test('GET / names the server and its links, and no model, to anyone', async t => {
  for (const repository of [undefined, fixtureRepository(t)]) {
    const app = await buildApp(t, repository === undefined ? {} : { MODEL_REPOSITORY: repository, DEFAULT_MODEL: 'sum' }, { token: false })
    const res = await app.inject({ method: 'GET', url: '/' })
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /^application\/json/)
    t.strictSame(res.json(), { name: 'onnx-serve', version, links })
    t.notMatch(res.body, /iris|sum|broken/, 'no model name')
  }
  t.equal(name, 'onnx-serve')
})
