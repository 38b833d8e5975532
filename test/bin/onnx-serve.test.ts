import t, { type Test } from 'tap'
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createVerifier } from 'fast-jwt'
import { DEVELOPMENT_SECRET } from '../../lib/auth/auth-key'
import { ConfigError } from '../../lib/config/config'
import { mintToken, parseTtl } from '../../lib/auth/token'
import { buildApp, bundledRepository } from '../helpers/build-app'

const SECRET = 'a-secret-for-the-token-script-tests'
const script = join(__dirname, '..', '..', 'bin', 'onnx-serve.ts')

interface Claims {
  sub: string
  scope: string
  iat: number
  exp: number
  iss?: string
  aud?: string
}

const verify = (token: string, key: string = SECRET): Claims => createVerifier({ key, algorithms: ['HS256'] })(token) as Claims

t.test('parseTtl', async t => {
  t.equal(parseTtl('90s'), 90)
  t.equal(parseTtl('1s'), 1)
  t.equal(parseTtl('15m'), 900)
  t.equal(parseTtl('1h'), 3600)
  t.equal(parseTtl('7d'), 604800)
  t.equal(parseTtl('999999s'), 999999, 'six digits')
  for (const ttl of ['', '1', 'h', '0s', '00h', '1.5h', '1H', '1w', ' 1h', '1h ', '-1h', '1000000s', '1e3s', '1 h', '1hour']) {
    t.throws(() => parseTtl(ttl), new Error(`--ttl ${JSON.stringify(ttl)} is invalid; expected a positive number and s, m, h or d, like 1h`), JSON.stringify(ttl))
  }
})

t.test('mintToken signs with JWT_SECRET', async t => {
  const before = Math.floor(Date.now() / 1000)
  const token = mintToken({ sub: 'alice', scope: 'predict admin', ttlSeconds: 3600 }, { JWT_SECRET: SECRET })
  const claims = verify(token)
  t.equal(claims.sub, 'alice')
  t.equal(claims.scope, 'predict admin')
  t.ok(claims.iat >= before && claims.iat <= Math.floor(Date.now() / 1000), 'iat is now')
  t.equal(claims.exp - claims.iat, 3600, 'exp is iat + ttl')
  t.notOk('iss' in claims, 'no iss unless configured')
  t.notOk('aud' in claims, 'no aud unless configured')
  t.strictSame(JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()), { alg: 'HS256', typ: 'JWT' })
  t.throws(() => verify(token, `${SECRET}-other`), { code: 'FAST_JWT_INVALID_SIGNATURE' }, 'another secret does not verify it')
})

t.test('mintToken carries JWT_ISSUER and JWT_AUDIENCE', async t => {
  const token = mintToken({ sub: 'bob', scope: 'predict', ttlSeconds: 90 }, { JWT_SECRET: SECRET, JWT_ISSUER: 'https://idp.example.com/', JWT_AUDIENCE: 'onnx-serve' })
  const claims = verify(token)
  t.equal(claims.iss, 'https://idp.example.com/')
  t.equal(claims.aud, 'onnx-serve')
  t.equal(claims.exp - claims.iat, 90)
})

t.test('mintToken without a key: the development secret outside production, a refusal in production', async t => {
  const claims = verify(mintToken({ sub: 'dev', scope: 'predict', ttlSeconds: 60 }, { NODE_ENV: 'development' }), DEVELOPMENT_SECRET)
  t.equal(claims.sub, 'dev')
  t.throws(() => mintToken({ sub: 'dev', scope: 'predict', ttlSeconds: 60 }, { NODE_ENV: 'production' }),
    new ConfigError('NODE_ENV=production needs a token key: set JWT_SECRET (HS256), JWT_PUBLIC_KEY (PEM) or JWKS_URL'))
  t.throws(() => mintToken({ sub: 'dev', scope: 'predict', ttlSeconds: 60 }, { JWT_SECRET: 'short' }),
    new ConfigError('JWT_SECRET=(5 characters, not shown) is invalid; expected an HS256 secret of at least 32 characters'))
})

t.test('mintToken refuses keys it cannot sign with', async t => {
  const message = 'onnx-serve token signs with JWT_SECRET (HS256) only; with JWT_PUBLIC_KEY or JWKS_URL, tokens come from whoever holds the private key'
  const publicKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string
  t.throws(() => mintToken({ sub: 'x', scope: 'predict', ttlSeconds: 60 }, { JWT_PUBLIC_KEY: publicKey }), new Error(message), 'JWT_PUBLIC_KEY')
  t.throws(() => mintToken({ sub: 'x', scope: 'predict', ttlSeconds: 60 }, { JWKS_URL: 'https://idp.example.com/jwks.json' }), new Error(message), 'JWKS_URL')
})

/** Runs the command line as `onnx-serve` would, but from the TypeScript source, in a fresh folder. */
async function run (t: Test, args: string[], env: Record<string, string>, dotEnv?: string): Promise<{ code: number, stdout: string, stderr: string }> {
  const cwd = mkdtempSync(join(tmpdir(), 'onnx-serve-token-'))
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }))
  if (dotEnv !== undefined) writeFileSync(join(cwd, '.env'), dotEnv)
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(NODE_ENV|JWT_|JWKS_URL)/.test(name)))
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [...process.execArgv, script, ...args], { cwd, env: { ...inherited, ...env } })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { code: number, stdout: string, stderr: string }
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr }
  }
}

t.test('--help, --version and usage errors', async t => {
  for (const args of [['--help'], ['-h'], ['help'], ['token', '--help'], ['serve', '--help']]) {
    const result = await run(t, args, {})
    t.equal(result.code, 0, `${args.join(' ')}: exit 0`)
    t.match(result.stdout, /^onnx-serve \d+\.\d+\.\d+: an inference server for ONNX models\n\nUsage:\n {2}onnx-serve \[serve\]/, `${args.join(' ')}: the usage`)
    t.match(result.stdout, /onnx-serve token --sub NAME/)
  }
  const version = await run(t, ['--version'], {})
  t.match(version.stdout, /^\d+\.\d+\.\d+\n$/)
  for (const [args, message] of [
    [['frobnicate'], 'onnx-serve: unknown command "frobnicate"'],
    [['token', '--colour', 'red'], "onnx-serve: Unknown option '--colour'"],
    [['serve', 'now'], 'onnx-serve: serve takes no arguments (the environment configures it), received now']
  ] as Array<[string[], string]>) {
    const result = await run(t, args, {})
    t.equal(result.code, 2, `${args.join(' ')}: exit 2`)
    t.match(result.stderr, `${message}`, `${args.join(' ')}: says what is wrong`)
    t.match(result.stderr, /Usage:/, `${args.join(' ')}: then the usage`)
  }
})

t.test('onnx-serve serve (and no command) starts the server', async t => {
  for (const args of [['serve'], []]) {
    const cwd = mkdtempSync(join(tmpdir(), 'onnx-serve-bin-'))
    t.teardown(() => rmSync(cwd, { recursive: true, force: true }))
    const child = spawn(process.execPath, [...process.execArgv, script, ...args], {
      cwd,
      env: { ...process.env, NODE_ENV: 'test', PORT: '0', GRPC_PORT: '0', LOG_LEVEL: 'info', MODEL_REPOSITORY: bundledRepository, INFERENCE_THREADS: '1' },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
    let output = ''
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', chunk => {
        output += String(chunk)
        const match = /listening at (http:\/\/[\d.:]+)/.exec(output)
        if (match !== null) resolve(match[1])
      })
      child.on('exit', code => reject(new Error(`exited with ${code}: ${output}`)))
    })
    t.equal((await fetch(`${url}/health/live`)).status, 200, `${args.join(' ') || '(no command)'}: listening at ${url}`)
    child.kill('SIGTERM')
    t.equal((await once(child, 'exit'))[0], 0, 'and stops on SIGTERM')
  }
})

t.test('the CLI prints one token that the server accepts', async t => {
  const result = await run(t, ['token', '--sub', 'alice', '--scope', 'predict admin', '--ttl', '1h'], { JWT_SECRET: SECRET })
  t.equal(result.code, 0)
  t.equal(result.stderr, '')
  t.match(result.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'one token on one line')
  const token = result.stdout.trim()
  const claims = verify(token)
  t.equal(claims.sub, 'alice')
  t.equal(claims.scope, 'predict admin')
  t.equal(claims.exp - claims.iat, 3600)

  const app = await buildApp(t, { JWT_SECRET: SECRET }, { token: false })
  const res = await app.inject({ method: 'POST', url: '/predict', payload: { input_data: [5.1, 3.5, 1.4, 0.2] }, headers: { authorization: `Bearer ${token}` } })
  t.equal(res.statusCode, 200)
  t.strictSame(res.json(), { prediction: ['setosa'] })
})

t.test('the CLI reads .env from the working folder; --scope defaults to predict', async t => {
  const result = await run(t, ['token', '--sub', 'carol'], {}, `JWT_SECRET=${SECRET}\n`)
  t.equal(result.code, 0, result.stderr)
  const claims = verify(result.stdout.trim())
  t.equal(claims.sub, 'carol')
  t.equal(claims.scope, 'predict')
  t.equal(claims.exp - claims.iat, 3600, '--ttl defaults to 1h')
})

t.test('the CLI fails with one line and exit code 1', async t => {
  const cases: Array<[string, string[], Record<string, string>, string]> = [
    ['no --sub', ['--scope', 'predict'], { JWT_SECRET: SECRET }, 'onnx-serve: --sub NAME is required: the identity the token speaks for\n'],
    ['an empty --sub', ['--sub', ''], { JWT_SECRET: SECRET }, 'onnx-serve: --sub NAME is required: the identity the token speaks for\n'],
    ['a bad --ttl', ['--sub', 'a', '--ttl', 'forever'], { JWT_SECRET: SECRET }, 'onnx-serve: --ttl "forever" is invalid; expected a positive number and s, m, h or d, like 1h\n'],
    ['production without a key', ['--sub', 'a'], { NODE_ENV: 'production' }, 'onnx-serve: NODE_ENV=production needs a token key: set JWT_SECRET (HS256), JWT_PUBLIC_KEY (PEM) or JWKS_URL\n'],
    ['JWKS_URL', ['--sub', 'a'], { JWKS_URL: 'https://idp.example.com/jwks.json' },
      'onnx-serve: onnx-serve token signs with JWT_SECRET (HS256) only; with JWT_PUBLIC_KEY or JWKS_URL, tokens come from whoever holds the private key\n']
  ]
  const results = await Promise.all(cases.map(([, args, env]) => run(t, ['token', ...args], env)))
  for (const [i, [what, , , stderr]] of cases.entries()) {
    const result = results[i]
    t.equal(result.code, 1, `${what}: exit code`)
    t.equal(result.stderr, stderr, `${what}: stderr`)
    t.equal(result.stdout, '', `${what}: nothing on stdout`)
  }
})
