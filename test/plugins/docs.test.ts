import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import SwaggerParser from '@apidevtools/swagger-parser'
import { buildApp, devToken, fixtureRepository } from '../helpers/build-app'
import { ERROR_EXAMPLES } from '../../schemas/errors'
import { version } from '../../package.json'

interface Operation {
  tags?: string[]
  summary?: string
  requestBody?: { content: Record<string, { schema: { required?: string[], properties?: Record<string, unknown> } }> }
  parameters?: Array<{ in: string, name: string, required: boolean, description?: string, schema: Record<string, unknown> }>
  responses: Record<string, { description?: string, content?: Record<string, { schema: { required?: string[] }, example?: unknown }> }>
}

interface OpenApi {
  openapi: string
  info: { title: string, version: string }
  paths: Record<string, Record<string, Operation>>
}

let app: FastifyInstance
let doc: OpenApi
t.before(async () => {
  app = await buildApp(t)
  const res = await app.inject({ method: 'GET', url: '/docs/json' })
  doc = res.json<OpenApi>()
})

t.test('GET /docs/json is an OpenAPI 3 document', async t => {
  const res = await app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  t.match(doc.openapi, /^3\.\d+\.\d+$/)
  t.strictSame(doc.info.title, 'onnx-serve')
  t.equal(doc.info.version, version)
})

t.test('the document validates (swagger-parser), and each operation is complete', async t => {
  await t.resolves(SwaggerParser.validate(structuredClone(doc) as never), 'valid OpenAPI')
  for (const [path, operations] of Object.entries(doc.paths)) {
    const inPath = [...path.matchAll(/\{(\w+)\}/g)].map(match => match[1])
    for (const [method, operation] of Object.entries(operations)) {
      const what = `${method.toUpperCase()} ${path}`
      const params = (operation.parameters ?? []).filter(parameter => parameter.in === 'path').map(parameter => parameter.name)
      t.strictSame(params, inPath, `${what}: exactly the path's parameters`)
      t.ok(operation.summary, `${what}: a summary`)
      t.not(operation.responses[200]?.description ?? 'Default Response', 'Default Response', `${what}: the 200 says what it gives`)
      if (method === 'post' && !path.endsWith('/unload') && !path.endsWith('/load') && !path.endsWith('/index')) t.ok(operation.requestBody, `${what}: its request body`)
      if ((operation as { security?: unknown }).security !== undefined) t.ok(operation.responses[401] !== undefined && operation.responses[403] !== undefined, `${what}: takes a token, so documents 401 and 403`)
      if (operation.requestBody !== undefined) t.ok(operation.responses[400] !== undefined, `${what}: takes a body, so documents 400`)
      for (const [status, response] of Object.entries(operation.responses).filter(([status]) => Number(status) >= 400)) {
        const example = Object.values(response.content ?? {})[0]?.example as Record<string, unknown> | undefined
        t.equal(response.description?.startsWith(status), true, `${what} ${status}: described as ${status}`)
        if (path.startsWith('/v2')) t.type(example?.error, 'string', `${what} ${status}: the protocol's {"error"}`)
        else if (path === '/health/ready' || path === '/health/live') t.equal(example?.status, 'unavailable', `${what} ${status}: the probe's body`)
        else t.equal(example?.statusCode, Number(status), `${what} ${status}: its own example`)
      }
    }
  }
})

t.test('the error examples are what the server answers', async t => {
  const quiet = await buildApp(t, { BODY_LIMIT: '1024' }, { token: false })
  const bearer = (scope: string): Record<string, string> => ({ authorization: `Bearer ${devToken({ sub: 'docs', scope })}` })
  const answers: Array<[number, Promise<LightMyRequestResponse>]> = [
    [400, quiet.inject({ method: 'POST', url: '/predict', headers: bearer('predict'), payload: { input_data: [[1, 2, 3]] } })],
    [401, quiet.inject({ method: 'POST', url: '/predict', payload: { input_data: [1, 2, 3, 4] } })],
    [403, quiet.inject({ method: 'POST', url: '/predict', headers: bearer('admin'), payload: { input_data: [1, 2, 3, 4] } })],
    [404, quiet.inject({ method: 'POST', url: '/v1/models/nope:predict', headers: bearer('predict'), payload: { instances: [[1, 2, 3, 4]] } })],
    [413, quiet.inject({ method: 'POST', url: '/predict', headers: bearer('predict'), payload: { input_data: Array(500).fill(1.2345) } })],
    [415, quiet.inject({ method: 'POST', url: '/predict', headers: { ...bearer('predict'), 'content-type': 'text/plain' }, payload: 'x' })]
  ]
  for (const [status, pending] of answers) {
    const body = (await pending).json<{ statusCode: number, code: string, message: string }>()
    t.strictSame({ statusCode: body.statusCode, code: body.code, message: body.message }, { statusCode: status, ...ERROR_EXAMPLES[status] }, `${status}`)
  }
})

t.test('it documents the contract\'s paths, as the contract spells them', async t => {
  const paths = Object.keys(doc.paths)
  for (const path of ['/', '/health/live', '/health/ready', '/predict', '/v1/models', '/v1/models/{name}', '/v1/models/{name}/predict', '/v1/models/{name}/versions/{version}/predict']) {
    t.ok(paths.includes(path), `documents ${path}`)
  }
  t.notOk(paths.includes('/v1/models/'), 'no trailing-slash variant of /v1/models')
  t.notOk(paths.some(path => path.startsWith('/docs')), 'the docs routes are not documented themselves')
  t.ok(doc.paths['/v1/models'].get, 'GET /v1/models')
  t.ok(doc.paths['/v1/models/{name}'].get, 'GET /v1/models/{name}')
})

t.test('POST /predict: input_data required, the error responses documented', async t => {
  const operation = doc.paths['/predict'].post
  t.strictSame(operation.tags, ['predict'])
  const body = operation.requestBody?.content['application/json'].schema
  t.strictSame(body?.required, ['input_data'])
  t.strictSame(Object.keys(body?.properties ?? {}), ['input_data'])
  t.strictSame(Object.keys(operation.responses).sort(), ['200', '400', '401', '403', '404', '413', '415', '429', '503', '504'])
  t.strictSame(operation.responses['400'].content?.['application/json'].schema.required, ['statusCode', 'code', 'error', 'message'])
})

t.test('the versioned predict path documents both path parameters', async t => {
  const operation = doc.paths['/v1/models/{name}/versions/{version}/predict'].post
  const parameters = Object.fromEntries((operation.parameters ?? []).map(parameter => [parameter.name, parameter]))
  t.match(parameters.name, { in: 'path', required: true })
  t.strictSame(parameters.name.schema, { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$' })
  // A string with a pattern: the version is taken as sent, never coerced
  t.match(parameters.version, { in: 'path', required: true })
  t.equal(parameters.version.description, 'a model version: a positive integer')
  t.strictSame(parameters.version.schema, { type: 'string', pattern: '^[1-9][0-9]{0,8}$' })
  const body = operation.requestBody?.content['application/json'].schema
  t.strictSame(Object.keys(body?.properties ?? {}), ['instances', 'inputs', 'signature_name'], 'rows or columns, as TF Serving takes them')
})

t.test('TF Serving\'s and KServe V1\'s colon paths are documented as such', async t => {
  t.ok(doc.paths['/v1/models/{name}:predict']?.post, JSON.stringify(Object.keys(doc.paths).filter(path => path.startsWith('/v1'))))
  t.ok(doc.paths['/v1/models/{name}/versions/{version}:predict']?.post)
  t.ok(doc.paths['/v1/models/{name}/versions/{version}'].get, 'one version\'s status')
})

t.test('GET /docs answers the Swagger UI page', async t => {
  const res = await app.inject({ method: 'GET', url: '/docs' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/html/)
  t.match(res.body, /<div id="swagger-ui">/)
})

t.test('the Swagger UI assets are served', async t => {
  const res = await app.inject({ method: 'GET', url: '/docs/static/swagger-ui.css' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/css/)
})

t.test('the docs page\'s assets are not charged to the caller\'s quota; the document is', async t => {
  const limited = await buildApp(t, { RATE_LIMIT_MAX: '2' }, { token: false })
  const assets = ['/docs', '/docs/static/swagger-ui.css', '/docs/static/swagger-ui-bundle.js',
    '/docs/static/swagger-ui-standalone-preset.js', '/docs/static/swagger-initializer.js']
  for (const url of assets) {
    const res = await limited.inject({ method: 'GET', url, remoteAddress: '198.51.100.7' })
    t.equal(res.statusCode, 200, url)
    t.equal(res.headers['x-ratelimit-remaining'], undefined, `${url}: not counted`)
  }
  const documents = []
  for (let i = 0; i < 3; i++) documents.push(await limited.inject({ method: 'GET', url: '/docs/json', remoteAddress: '198.51.100.7' }))
  t.strictSame(documents.map(res => res.statusCode), [200, 200, 429], 'RATE_LIMIT_MAX=2: the third document in the window is refused')
  t.equal(documents[0].headers['x-ratelimit-remaining'], '1', 'the first counted request of the address is the document')
})

t.test('anonymous callers learn no model name from the document; a token with the predict scope sees every model', async t => {
  const repository = fixtureRepository(t)
  const anonymous = await buildApp(t, { MODEL_REPOSITORY: repository }, { token: false })
  const served = anonymous.models.registry.list().map(entry => entry.name)
  t.ok(served.length >= 4, `the fixture repository knows ${served.join(', ')}`)
  const modelPaths = (document: OpenApi): string[] => Object.keys(document.paths).filter(path => path.startsWith('/v2/models/') && !path.includes('{') && path !== '/v2/models/stats')

  const open = await anonymous.inject({ method: 'GET', url: '/docs/json' })
  t.equal(open.statusCode, 200)
  t.match(open.headers['content-type'], /^application\/json/)
  t.equal(open.headers.vary, 'authorization', 'caches keep one document per Authorization')
  t.strictSame(modelPaths(open.json<OpenApi>()), [], 'no model\'s own operations')
  for (const name of served) t.notOk(open.body.includes(`/${name}/`) || open.body.includes(`"${name}"`), `no mention of ${name}`)
  const yaml = await anonymous.inject({ method: 'GET', url: '/docs/yaml' })
  t.notOk(yaml.body.includes('/v2/models/sum/infer'), 'nor in YAML')

  const withToken = async (scope: string): Promise<LightMyRequestResponse> => await anonymous.inject({
    method: 'GET', url: '/docs/json', headers: { authorization: `Bearer ${devToken({ sub: 'reader', scope })}` }
  })
  t.ok(modelPaths((await withToken('predict')).json<OpenApi>()).includes('/v2/models/sum/infer'), 'a predict token sees them')
  t.ok((await anonymous.inject({ method: 'GET', url: '/docs/yaml', headers: { authorization: `Bearer ${devToken({ sub: 'reader', scope: 'predict' })}` } })).body.includes('/v2/models/sum/infer'), 'in YAML too')
  const metricsOnly = await withToken('metrics')
  t.equal(metricsOnly.statusCode, 200)
  t.strictSame(modelPaths(metricsOnly.json<OpenApi>()), [], 'a token without the predict scope sees what anonymous callers see')
  const forged = await anonymous.inject({ method: 'GET', url: '/docs/json', headers: { authorization: 'Bearer not.a.token' } })
  t.equal(forged.statusCode, 401, 'a bad token is refused, as anywhere')

  const everyone = await buildApp(t, { MODEL_REPOSITORY: repository, DOCS_PUBLIC_MODELS: 'true' }, { token: false })
  t.ok(modelPaths((await everyone.inject({ method: 'GET', url: '/docs/json' })).json<OpenApi>()).includes('/v2/models/sum/infer'), 'DOCS_PUBLIC_MODELS=true shows them to anyone')
})

t.test('the document is made once per change of the model set', async t => {
  const models = await buildApp(t, { MODEL_REPOSITORY: fixtureRepository(t) })
  const catalog = models.dataPlane.catalog.bind(models.dataPlane)
  let made = 0
  models.dataPlane.catalog = view => { made++; return catalog(view) }
  const bodies = []
  for (let i = 0; i < 5; i++) bodies.push((await models.inject({ method: 'GET', url: '/docs/json' })).body)
  t.equal(made, 1, 'five requests, one making')
  t.equal(new Set(bodies).size, 1, 'the same document each time')
  t.equal((await models.inject({ method: 'POST', url: '/v2/repository/models/sum/unload' })).statusCode, 200)
  const after = (await models.inject({ method: 'GET', url: '/docs/json' })).json<OpenApi>()
  t.equal(made, 2, 'made again after an unload')
  t.notOk('/v2/models/sum/infer' in after.paths)
})

interface ModelOperation {
  summary: string
  requestBody: { content: { 'application/json': { example: unknown } } }
}

/** Every ready model of `models` has its /v1 and /v2 operations in the document, and their examples predict. */
async function examplesPredict (t: Test, models: FastifyInstance): Promise<OpenApi> {
  const document = (await models.inject({ method: 'GET', url: '/docs/json' })).json<OpenApi>()
  await t.resolves(SwaggerParser.validate(structuredClone(document) as never), 'still valid with them')
  const ready = models.models.registry.list().filter(entry => entry.state === 'READY').map(entry => entry.name)
  for (const name of ready) {
    for (const path of [`/v1/models/${name}:predict`, `/v2/models/${name}/infer`]) {
      const operation = document.paths[path]?.post as unknown as ModelOperation | undefined
      t.ok(operation, `${path} documented`)
      if (operation === undefined) continue
      const example = operation.requestBody.content['application/json'].example
      const res = await models.inject({ method: 'POST', url: path, payload: example as object })
      t.equal(res.statusCode, 200, `${path}: its example predicts (${res.body.slice(0, 120)})`)
    }
  }
  return document
}

t.test('each ready model has its own operations, whose examples it answers', async t => {
  await examplesPredict(t, app)
  const models = await buildApp(t, { MODEL_REPOSITORY: fixtureRepository(t) })
  const read = async (): Promise<OpenApi> => (await models.inject({ method: 'GET', url: '/docs/json' })).json<OpenApi>()
  const document = await examplesPredict(t, models)
  t.notOk(Object.keys(document.paths).some(path => path.includes('/broken')), 'a model that cannot be served has none')

  t.equal((await models.inject({ method: 'POST', url: '/v2/repository/models/sum/unload' })).statusCode, 200)
  t.notOk('/v2/models/sum/infer' in (await read()).paths, 'unloading a model takes its operations out')
  t.equal((await models.inject({ method: 'POST', url: '/v2/repository/models/sum/load' })).statusCode, 200)
  t.ok('/v2/models/sum/infer' in (await read()).paths, 'loading it puts them back')
})

interface TriedOperation {
  parameters?: Array<{ in: string, name: string, example?: string }>
  requestBody?: { content: { 'application/json'?: { example?: unknown } } }
}

/** Every POST of `document` that takes a JSON body, sent as the docs page's Try it out sends it: path parameters and body from their examples. */
async function tryEveryExample (t: Test, models: FastifyInstance, document: OpenApi): Promise<string[]> {
  const tried: string[] = []
  for (const [path, operations] of Object.entries(document.paths)) {
    const operation = operations.post as TriedOperation | undefined
    const example = operation?.requestBody?.content['application/json']?.example
    if (operation === undefined || example === undefined || path.startsWith('/v2/repository')) continue
    let url = path
    for (const parameter of operation.parameters ?? []) {
      t.type(parameter.example, 'string', `POST ${path}: {${parameter.name}} has an example`)
      url = url.replace(`{${parameter.name}}`, parameter.example ?? '')
    }
    const res = await models.inject({ method: 'POST', url, payload: example as object })
    t.equal(res.statusCode, 200, `POST ${url} with the example shown: 200 (${res.body.slice(0, 100)})`)
    tried.push(path)
  }
  return tried
}

t.test('with another default model, every operation\'s example answers 200, generic ones included', async t => {
  for (const defaultModel of ['sum', 'mixed']) {
    const models = await buildApp(t, { MODEL_REPOSITORY: fixtureRepository(t), DEFAULT_MODEL: defaultModel })
    const document = (await models.inject({ method: 'GET', url: '/docs/json' })).json<OpenApi>()
    await t.resolves(SwaggerParser.validate(structuredClone(document) as never), `${defaultModel}: valid`)
    const tried = await tryEveryExample(t, models, document)
    for (const path of ['/predict', '/v1/models/{name}:predict', '/v1/models/{name}/versions/{version}/predict', '/v2/models/{name}/infer', '/v2/models/{name}/versions/{version}/infer']) {
      t.ok(tried.includes(path), `${defaultModel}: ${path} tried`)
    }
    const metadata = document.paths['/v2/models/{name}'].get.parameters?.find(parameter => parameter.name === 'name') as { example?: string } | undefined
    t.equal(metadata?.example, defaultModel, `${defaultModel}: the name's example on the metadata path`)
    const unload = document.paths['/v2/repository/models/{name}/unload'].post.parameters?.find(parameter => parameter.name === 'name') as { example?: string } | undefined
    t.equal(unload?.example, undefined, 'unload is left blank')
  }
})

t.test('each model\'s own operations document the error answers of the generic one; so does GET /v1/models', async t => {
  const models = await buildApp(t, { MODEL_REPOSITORY: fixtureRepository(t) })
  const document = (await models.inject({ method: 'GET', url: '/docs/json' })).json<OpenApi>()
  const statuses = (path: string): string[] => Object.keys(document.paths[path].post.responses)
  t.strictSame(statuses('/v1/models/sum:predict'), statuses('/v1/models/{name}:predict'))
  t.strictSame(statuses('/v2/models/sum/infer'), statuses('/v2/models/{name}/infer'))
  t.ok(statuses('/v2/models/sum/infer').includes('413'))
  t.strictSame(document.paths['/v2/models/sum/infer'].post.responses[400], document.paths['/v2/models/{name}/infer'].post.responses[400], 'the same shapes and examples')
  t.same(Object.keys(document.paths['/v1/models'].get.responses), ['200', '401', '403', '429'])
})
