// TLS_CERT_FILE and TLS_KEY_FILE: the server speaks HTTPS, for those who
// terminate TLS in the pod, with the same deadlines as over plain HTTP.

import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { request } from 'node:https'
import { request as plainRequest } from 'node:http'
import { join } from 'node:path'
import t from 'tap'
import { bundledRepository, devToken } from './helpers/build-app'
import { startServer } from './helpers/server-process'

/** A self-signed certificate for 127.0.0.1, made by Debian's openssl for this test. */
function certificate (dir: string): { cert: string, key: string } {
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' })
  return { cert, key }
}

async function get (url: string, ca: Buffer, headers: Record<string, string> = {}): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { ca, headers, agent: false }, res => {
      let body = ''
      res.on('data', chunk => { body += String(chunk) })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('with a certificate and key the server answers over HTTPS only', async t => {
  const { cert, key } = certificate(t.testdir())
  const server = await startServer(t, { MODEL_REPOSITORY: bundledRepository, INFERENCE_THREADS: '1', HOST: '127.0.0.1', TLS_CERT_FILE: cert, TLS_KEY_FILE: key })
  t.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/, 'it says so as it starts')
  const ca = readFileSync(cert)
  let ready = { status: 0, body: '' }
  for (let i = 0; i < 100 && ready.status !== 200; i++) {
    ready = await get(`${server.url}/health/ready`, ca)
    if (ready.status !== 200) await new Promise(resolve => setTimeout(resolve, 100))
  }
  t.equal(ready.status, 200, 'ready over HTTPS, the certificate verified against its own CA')
  const models = await get(`${server.url}/v1/models`, ca, { authorization: `Bearer ${devToken()}` })
  t.equal(models.status, 200)
  t.match(JSON.parse(models.body), { models: [{ name: 'iris' }] })

  const plain = await new Promise<string>(resolve => {
    const req = plainRequest(server.url.replace('https:', 'http:') + '/health/live', { agent: false }, res => { res.resume(); resolve(`answered ${res.statusCode ?? 0}`) })
    req.on('error', error => resolve(`refused: ${error.message}`))
    req.end()
  })
  t.notMatch(plain, /answered 200/, `plain HTTP gets no answer: ${plain}`)
})

t.test('a missing key or an unreadable file stops the server with one line naming the variable', async t => {
  const { cert } = certificate(t.testdir())
  const run = (env: Record<string, string>): { status: number | null, stderr: string } => {
    const result = spawnSync(process.execPath, [...process.execArgv, join(__dirname, '..', 'server.ts')], {
      cwd: __dirname, env: { ...process.env, PORT: '0', GRPC_PORT: '0', MODEL_REPOSITORY: bundledRepository, ...env }, encoding: 'utf8'
    })
    return { status: result.status, stderr: result.stderr.trim() }
  }
  t.strictSame(run({ TLS_CERT_FILE: cert }), { status: 1, stderr: 'onnx-serve: TLS_CERT_FILE is set without TLS_KEY_FILE; set both for HTTPS, or neither' })
  t.strictSame(run({ TLS_CERT_FILE: cert, TLS_KEY_FILE: '/nonexistent/key.pem' }), { status: 1, stderr: 'onnx-serve: TLS_KEY_FILE=/nonexistent/key.pem cannot be read: ENOENT' })
})
