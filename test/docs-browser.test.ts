// The docs page in a real browser (Debian's Chromium, driven by
// playwright-core): with a quota of five requests, it loads, authorizes, and
// "Try it out" answers 200 on /predict and on the bundled iris model's own
// /v2 infer operation, with no console error; and with a repository of the
// user's (a 64-input MLP as the default model), every Try it out answers
// 200 with the example the page shows. Screenshots go to .tap/screenshots/. Without /usr/bin/chromium the test is skipped (CI
// installs it: apt-get install chromium); with CI=true it fails instead.

import { cpSync, existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { chromium, type Browser, type Locator, type Page } from 'playwright-core'
import { MLP_CONFIG, MLP_SPECS, mlpOnnx } from '../bench/lib/models'
import { buildApp, bundledRepository, devToken } from './helpers/build-app'
import { writeModelFolder } from './helpers/fixture-repository'

const CHROMIUM = '/usr/bin/chromium'
const screenshots = join(__dirname, '..', '.tap', 'screenshots')

function skip (): false | string {
  if (existsSync(CHROMIUM)) return false
  const missing = `${CHROMIUM} is missing; install it with: apt-get install chromium`
  if (process.env.CI === 'true') t.fail(`${missing} (CI=true: the browser test must run)`)
  return missing
}

/** Opens the operation on `path`, fills its body when given, executes it, and returns the status Swagger UI shows. */
async function tryItOut (page: Page, path: string, body?: string): Promise<string> {
  const operation: Locator = page.locator('.opblock').filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) }).first()
  await operation.locator('.opblock-summary').first().click()
  await operation.getByRole('button', { name: 'Try it out' }).click()
  if (body !== undefined) await operation.locator('textarea.body-param__text').fill(body)
  await operation.getByRole('button', { name: 'Execute' }).click()
  const status = operation.locator('.live-responses-table tbody .response-col_status').first()
  await status.waitFor({ timeout: 15_000 })
  return (await status.textContent())?.trim() ?? ''
}

async function launch (t: Test): Promise<Browser> {
  mkdirSync(screenshots, { recursive: true })
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    // As root in a container, with no network beyond this machine.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(() => browser.close())
  return browser
}

/** A page of `browser` whose console errors, page errors and failed requests land in `problems`. */
async function watchedPage (browser: Browser, problems: string[]): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } })
  page.on('console', message => { if (message.type() === 'error') problems.push(`console: ${message.text()}`) })
  page.on('pageerror', error => problems.push(`page: ${error.message}`))
  page.on('requestfailed', request => problems.push(`request failed: ${request.url()}`))
  return page
}

/** Opens the docs page at `url`, authorizes with a predict token, and waits for `modelPath`, a model's own operation, to appear. */
async function openAuthorized (t: Test, page: Page, url: string, modelPath: string, screenshot: string): Promise<void> {
  await page.goto(`${url}/docs`)
  await page.locator('.swagger-ui .info .title').waitFor()
  t.match(await page.locator('.swagger-ui .info .title').textContent(), /onnx-serve/, 'the page rendered')
  await page.screenshot({ path: join(screenshots, screenshot), fullPage: false })
  const own = page.locator(`.opblock-summary-path[data-path="${modelPath}"]`)
  t.equal(await own.count(), 0, 'anonymous: no model is named on the page')
  await page.getByRole('button', { name: /Authorize/ }).first().click()
  const dialog = page.locator('.modal-ux')
  await dialog.locator('input').first().fill(devToken({ sub: 'docs-browser', scope: 'predict' }))
  await dialog.locator('.auth-btn-wrapper button.authorize').click()
  await dialog.locator('.auth-btn-wrapper button.btn-done').click()
  await own.first().waitFor({ timeout: 15_000 })
  t.pass('after Authorize the page fetched the document again, with each model\'s own operations')
}

t.test('the docs page: authorize, the models appear, then try /predict and a model\'s own /v2 infer', { skip: skip(), timeout: 120_000 }, async t => {
  // Five requests a minute per caller: the page's own assets must not use them up.
  const app = await buildApp(t, { RATE_LIMIT_MAX: '5' }, { token: false })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const problems: string[] = []
  const page = await watchedPage(await launch(t), problems)
  await openAuthorized(t, page, url, '/v2/models/iris/infer', 'docs-1-page.png')

  t.equal(await tryItOut(page, '/predict', JSON.stringify({ input_data: [5.1, 3.5, 1.4, 0.2] })), '200', 'POST /predict: 200')
  await page.screenshot({ path: join(screenshots, 'docs-2-predict.png'), fullPage: false })
  // The model's own operation carries an example that predicts: sent as shown.
  t.equal(await tryItOut(page, '/v2/models/iris/infer'), '200', 'POST /v2/models/iris/infer with its example: 200')
  await page.screenshot({ path: join(screenshots, 'docs-3-v2-infer.png'), fullPage: false })

  t.strictSame(problems, [], 'no console errors, page errors or failed requests')
  t.comment(`screenshots in ${screenshots}`)
})

t.test('with the user\'s own model as the default, every Try it out answers 200 with the example shown', { skip: skip(), timeout: 180_000 }, async t => {
  const repository = t.testdir()
  writeModelFolder(repository, 'digits', mlpOnnx({ ...MLP_SPECS.digits, name: 'digits' }), MLP_CONFIG)
  cpSync(join(bundledRepository, 'iris'), join(repository, 'iris'), { recursive: true })
  const app = await buildApp(t, { MODEL_REPOSITORY: repository, DEFAULT_MODEL: 'digits' }, { token: false })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  const problems: string[] = []
  const page = await watchedPage(await launch(t), problems)
  await openAuthorized(t, page, url, '/v2/models/digits/infer', 'docs-4-own-model.png')

  for (const path of ['/predict', '/v1/models/{name}:predict', '/v1/models/{name}/versions/{version}:predict', '/v2/models/{name}/infer',
    '/v2/models/{name}/versions/{version}/infer', '/v1/models/digits:predict', '/v2/models/digits/infer', '/v2/models/iris/infer']) {
    t.equal(await tryItOut(page, path), '200', `POST ${path} as shown: 200`)
  }
  await page.screenshot({ path: join(screenshots, 'docs-5-own-model-tried.png'), fullPage: false })
  t.strictSame(problems, [], 'no console errors, page errors or failed requests')
})
