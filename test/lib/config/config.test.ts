import t, { type Test } from 'tap'
import { resolve } from 'node:path'
import { generateKeyPairSync } from 'node:crypto'
import { DEVELOPMENT_SECRET } from '../../../lib/auth/auth-key'
import { maxConnectionsFor, openFilesLimit } from '../../../lib/config/open-files'
import { ConfigError, loadConfig } from '../../../lib/config/config'
import { cpuQuota } from '../../../lib/config/cpu-quota'

/** The ConfigError message `env` gives; fails the test when it loads. */
function refusal (t: Test, env: Record<string, string>): string {
  try {
    loadConfig(env)
  } catch (error) {
    t.type(error, ConfigError)
    return (error as Error).message
  }
  t.fail(`${JSON.stringify(env)} was accepted`)
  return ''
}

t.test('defaults', async t => {
  t.strictSame(loadConfig({}), {
    env: 'development',
    port: 3000,
    grpcPort: 8001,
    host: '127.0.0.1',
    logLevel: 'info',
    modelRepository: resolve('./models'),
    modelControlMode: 'explicit',
    repositoryPollMs: 15000,
    defaultModel: undefined,
    bodyLimit: 1024 * 1024,
    workers: 1,
    inferenceThreads: cpuQuota(),
    inferenceQueue: 256,
    inferenceTimeoutMs: 30000,
    inferencePlacement: 'auto',
    inferenceStuckLimit: 2,
    inlineRunMaxMs: 0.25,
    maxRows: 1024,
    maxTensorElements: 1000000,
    shutdownDelayMs: 0,
    requestTimeoutMs: 30000,
    maxEventLoopDelayMs: 500,
    keepAliveTimeoutMs: 5000,
    maxConnectionsPerAddress: 256,
    maxConnections: maxConnectionsFor(openFilesLimit()),
    auth: { kind: 'secret', secret: DEVELOPMENT_SECRET, algorithms: ['HS256'], development: true },
    jwtIssuer: undefined,
    jwtAudience: undefined,
    jwtMaxAgeSeconds: 0,
    jwks: { timeoutMs: 5000, ttlMs: 600000, maxStaleMs: 3600000, cooldownMs: 30000 },
    rateLimitMax: 6000,
    rateLimitWindowMs: 60000,
    rateLimitKeys: 20000,
    authFailureLimit: 20,
    metricsAuth: false,
    docsPublicModels: false,
    cache: { ttlMs: 60000, maxBytes: 64 * 1024 * 1024, maxEntries: 10000 },
    redisUrl: undefined,
    trustProxy: false,
    corsOrigin: undefined,
    tls: undefined,
    tracing: undefined
  })
})

const secret = 'a-32-character-secret-for-tests!'

t.test('reads every variable', async t => {
  t.equal(secret.length, 32, 'the shortest secret accepted')
  const config = loadConfig({
    NODE_ENV: 'production',
    PORT: '8080',
    GRPC_PORT: '9001',
    HOST: '0.0.0.0',
    LOG_LEVEL: 'warn',
    MODEL_REPOSITORY: '/srv/models',
    DEFAULT_MODEL: 'iris',
    BODY_LIMIT: '2048',
    WORKERS: '4',
    INFERENCE_THREADS: '3',
    INFERENCE_QUEUE: '10',
    INFERENCE_TIMEOUT_MS: '500',
    INFERENCE_PLACEMENT: 'worker',
    INLINE_RUN_MAX_US: '1500',
    INFERENCE_STUCK_LIMIT: '3',
    MAX_ROWS: '64',
    MODEL_CONTROL_MODE: 'poll',
    REPOSITORY_POLL_SECS: '30',
    MAX_TENSOR_ELEMENTS: '4096',
    SHUTDOWN_DELAY_MS: '5000',
    REQUEST_TIMEOUT_MS: '15000',
    MAX_EVENT_LOOP_DELAY_MS: '0',
    KEEP_ALIVE_TIMEOUT_MS: '2000',
    MAX_CONNECTIONS_PER_ADDRESS: '0',
    MAX_CONNECTIONS: '5000',
    JWT_SECRET: secret,
    JWT_ISSUER: 'https://idp.example.com/',
    JWT_AUDIENCE: 'onnx-serve',
    JWT_MAX_AGE: '3600',
    JWKS_TIMEOUT_MS: '1000',
    JWKS_CACHE_TTL_MS: '60000',
    JWKS_MAX_STALE_MS: '0',
    JWKS_COOLDOWN_MS: '0',
    RATE_LIMIT_MAX: '500',
    RATE_LIMIT_WINDOW: '1000',
    RATE_LIMIT_KEYS: '5000',
    AUTH_FAILURE_LIMIT: '5',
    METRICS_AUTH: 'true',
    DOCS_PUBLIC_MODELS: 'true',
    CACHE_TTL_MS: '5000',
    CACHE_MAX_BYTES: '1048576',
    CACHE_MAX_ENTRIES: '500',
    REDIS_URL: 'redis://cache:6379/2',
    TRUST_PROXY: '10.0.0.0/8, 192.168.1.1',
    CORS_ORIGIN: 'https://app.example.com,http://localhost:5173',
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
    OTEL_SERVICE_NAME: 'inference-eu',
    UNRELATED: 'ignored'
  })
  t.strictSame(config, {
    env: 'production',
    port: 8080,
    grpcPort: 9001,
    host: '0.0.0.0',
    logLevel: 'warn',
    modelRepository: '/srv/models',
    modelControlMode: 'poll',
    repositoryPollMs: 30000,
    defaultModel: 'iris',
    bodyLimit: 2048,
    workers: 4,
    inferenceThreads: 3,
    inferenceQueue: 10,
    inferenceTimeoutMs: 500,
    inferencePlacement: 'worker',
    inferenceStuckLimit: 3,
    inlineRunMaxMs: 1.5,
    maxRows: 64,
    maxTensorElements: 4096,
    shutdownDelayMs: 5000,
    requestTimeoutMs: 15000,
    maxEventLoopDelayMs: 0,
    keepAliveTimeoutMs: 2000,
    maxConnectionsPerAddress: 0,
    maxConnections: 5000,
    auth: { kind: 'secret', secret, algorithms: ['HS256'], development: false },
    jwtIssuer: 'https://idp.example.com/',
    jwtAudience: 'onnx-serve',
    jwtMaxAgeSeconds: 3600,
    jwks: { timeoutMs: 1000, ttlMs: 60000, maxStaleMs: 0, cooldownMs: 0 },
    rateLimitMax: 500,
    rateLimitWindowMs: 1000,
    rateLimitKeys: 5000,
    authFailureLimit: 5,
    metricsAuth: true,
    docsPublicModels: true,
    cache: { ttlMs: 5000, maxBytes: 1048576, maxEntries: 500 },
    redisUrl: 'redis://cache:6379/2',
    trustProxy: ['10.0.0.0/8', '192.168.1.1'],
    corsOrigin: ['https://app.example.com', 'http://localhost:5173'],
    tls: undefined,
    tracing: { url: 'http://collector:4318/v1/traces', serviceName: 'inference-eu' }
  })
  t.equal(loadConfig({ MODEL_REPOSITORY: 'repo' }).modelRepository, resolve('repo'), 'relative to the working folder')
  t.equal(loadConfig({ PORT: '0' }).port, 0, 'the lower bound is accepted')
  t.equal(loadConfig({ PORT: '65535' }).port, 65535, 'the upper bound is accepted')
})

t.test('an empty variable counts as unset', async t => {
  const config = loadConfig({ PORT: '', HOST: '', NODE_ENV: '', LOG_LEVEL: '', DEFAULT_MODEL: '', INFERENCE_THREADS: '', MODEL_REPOSITORY: '' })
  t.equal(config.port, 3000)
  t.equal(config.host, '127.0.0.1')
  t.equal(config.env, 'development')
  t.equal(config.logLevel, 'info')
  t.equal(config.defaultModel, undefined)
  t.equal(config.inferenceThreads, cpuQuota())
  t.equal(config.modelRepository, resolve('./models'))
})

t.test('each bad value gives one line naming the variable and what it accepts', async t => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ PORT: 'abc' }, 'PORT="abc" is invalid; expected the TCP port: an integer from 0 to 65535'],
    [{ PORT: '65536' }, 'PORT="65536" is invalid; expected the TCP port: an integer from 0 to 65535'],
    [{ PORT: '-1' }, 'PORT="-1" is invalid; expected the TCP port: an integer from 0 to 65535'],
    [{ NODE_ENV: 'prod' }, 'NODE_ENV="prod" is invalid; expected one of development, production, test'],
    [{ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL="verbose" is invalid; expected one of fatal, error, warn, info, debug, trace, silent'],
    [{ DEFAULT_MODEL: '../etc' }, 'DEFAULT_MODEL="../etc" is invalid; expected the name of a model in the repository'],
    [{ BODY_LIMIT: '100' }, 'BODY_LIMIT="100" is invalid; expected the largest request body in bytes: an integer from 1024 to 1073741824'],
    [{ WORKERS: '0' }, 'WORKERS="0" is invalid; expected HTTP server processes (cluster mode): an integer from 1 to 64'],
    [{ INFERENCE_THREADS: '0' }, 'INFERENCE_THREADS="0" is invalid; expected inference worker threads (default: the CPU quota): an integer from 1 to 256'],
    [{ INFERENCE_PLACEMENT: 'gpu' }, 'INFERENCE_PLACEMENT="gpu" is invalid; expected one of auto (each model where its measured runs are cheapest), inline (the main thread), worker (the worker threads)'],
    [{ INFERENCE_STUCK_LIMIT: '0' }, 'INFERENCE_STUCK_LIMIT="0" is invalid; expected inference threads stuck in runs past INFERENCE_TIMEOUT_MS at which liveness fails (readiness fails at one fewer): an integer from 1 to 64'],
    [{ INLINE_RUN_MAX_US: '0' }, 'INLINE_RUN_MAX_US="0" is invalid; expected microseconds a model\'s average run may take on the main thread before it moves to the worker threads: an integer from 1 to 100000'],
    [{ INFERENCE_QUEUE: '100001' }, 'INFERENCE_QUEUE="100001" is invalid; expected inference runs accepted at once before answering 503: an integer from 1 to 100000'],
    [{ INFERENCE_TIMEOUT_MS: '0' }, 'INFERENCE_TIMEOUT_MS="0" is invalid; expected milliseconds before an inference is answered 504: an integer from 1 to 600000'],
    [{ MAX_ROWS: 'many' }, 'MAX_ROWS="many" is invalid; expected rows one request may carry: an integer from 1 to 1000000'],
    [{ MAX_TENSOR_ELEMENTS: '0' }, 'MAX_TENSOR_ELEMENTS="0" is invalid; expected tensor elements one request may carry: an integer from 1 to 100000000'],
    [{ SHUTDOWN_DELAY_MS: '-5' }, 'SHUTDOWN_DELAY_MS="-5" is invalid; expected milliseconds readiness reports 503 before the server stops accepting requests: an integer from 0 to 600000'],
    [{ HOST: '127.0.0.1', PORT: 'x\ny' }, 'PORT="x\\ny" is invalid; expected the TCP port: an integer from 0 to 65535']
  ]
  for (const [env, message] of cases) {
    const got = refusal(t, env)
    t.equal(got, message, JSON.stringify(env))
    t.notMatch(got, /\n/, 'one line')
  }
})

t.test('integers must be written as integers: no silent truncation', async t => {
  // TypeBox's conversion alone would read "1e4" as 1, "2.5" as 2 and "true" as 1
  for (const [name, value] of [['MAX_ROWS', '1e4'], ['PORT', '3000.5'], ['WORKERS', 'true'], ['INFERENCE_TIMEOUT_MS', '1.5e4'], ['PORT', '0x10'], ['WORKERS', '2 cores']]) {
    t.match(refusal(t, { [name]: value }), new RegExp(`^${name}=${JSON.stringify(value).replace(/[.+]/g, '\\$&')} is invalid; expected .*an integer from \\d+ to \\d+$`))
  }
  t.equal(loadConfig({ PORT: ' 8080 ' }).port, 8080, 'surrounding spaces are tolerated')
  t.equal(loadConfig({ MAX_ROWS: '0010' }).maxRows, 10)
})

t.test('the first bad variable is reported', async t => {
  const message = refusal(t, { PORT: 'x', LOG_LEVEL: 'loud' })
  t.match(message, /^(PORT|LOG_LEVEL)=/)
  t.equal(message.split('\n').length, 1)
})

t.test('the new variables: each bad value gives its one line', async t => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ REQUEST_TIMEOUT_MS: '999' }, 'REQUEST_TIMEOUT_MS="999" is invalid; expected milliseconds a client may take to send a whole request (408 beyond): an integer from 1000 to 600000'],
    [{ REQUEST_TIMEOUT_MS: '30s' }, 'REQUEST_TIMEOUT_MS="30s" is invalid; expected milliseconds a client may take to send a whole request (408 beyond): an integer from 1000 to 600000'],
    [{ MAX_EVENT_LOOP_DELAY_MS: '60001' }, 'MAX_EVENT_LOOP_DELAY_MS="60001" is invalid; expected event-loop delay in milliseconds beyond which requests are shed with 503 (0: never): an integer from 0 to 60000'],
    [{ MAX_EVENT_LOOP_DELAY_MS: 'off' }, 'MAX_EVENT_LOOP_DELAY_MS="off" is invalid; expected event-loop delay in milliseconds beyond which requests are shed with 503 (0: never): an integer from 0 to 60000'],
    // A secret is not echoed, not even a short one
    [{ JWT_SECRET: 'hunter2' }, 'JWT_SECRET=(7 characters, not shown) is invalid; expected an HS256 secret of at least 32 characters'],
    [{ JWT_SECRET: 'y'.repeat(31) }, 'JWT_SECRET=(31 characters, not shown) is invalid; expected an HS256 secret of at least 32 characters'],
    [{ JWT_PUBLIC_KEY: 'not a key' }, 'JWT_PUBLIC_KEY is not a usable PEM public key: error:1E08010C:DECODER routines::unsupported'],
    [{ JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----' }, 'JWT_PUBLIC_KEY is not a usable PEM public key: error:068000A8:asn1 encoding routines::wrong tag'],
    [{ JWKS_URL: 'ftp://idp.example.com/jwks.json' }, 'JWKS_URL="ftp://idp.example.com/jwks.json" is invalid; expected the http(s) URL of a JSON Web Key Set'],
    [{ JWKS_URL: 'idp.example.com/jwks.json' }, 'JWKS_URL="idp.example.com/jwks.json" is invalid; expected the http(s) URL of a JSON Web Key Set'],
    [{ JWKS_URL: 'https://idp.example.com/my jwks' }, 'JWKS_URL="https://idp.example.com/my jwks" is invalid; expected the http(s) URL of a JSON Web Key Set'],
    [{ RATE_LIMIT_MAX: '0' }, 'RATE_LIMIT_MAX="0" is invalid; expected requests one identity may make per window: an integer from 1 to 10000000'],
    [{ RATE_LIMIT_MAX: '100/min' }, 'RATE_LIMIT_MAX="100/min" is invalid; expected requests one identity may make per window: an integer from 1 to 10000000'],
    [{ RATE_LIMIT_WINDOW: '999' }, 'RATE_LIMIT_WINDOW="999" is invalid; expected the rate-limit window in milliseconds: an integer from 1000 to 86400000'],
    [{ RATE_LIMIT_WINDOW: '1 minute' }, 'RATE_LIMIT_WINDOW="1 minute" is invalid; expected the rate-limit window in milliseconds: an integer from 1000 to 86400000'],
    [{ AUTH_FAILURE_LIMIT: '0' }, 'AUTH_FAILURE_LIMIT="0" is invalid; expected failed authentications one IP address may make per window: an integer from 1 to 1000000'],
    [{ REDIS_URL: 'http://cache:6379' }, 'REDIS_URL="http://cache:6379" is invalid; expected a redis:// or rediss:// URL'],
    [{ REDIS_URL: 'cache:6379' }, 'REDIS_URL="cache:6379" is invalid; expected a redis:// or rediss:// URL'],
    [{ CACHE_TTL_MS: '10' }, 'CACHE_TTL_MS="10" is invalid; expected milliseconds a cached prediction (and a metadata ETag) is kept: an integer from 1000 to 86400000']
  ]
  for (const [env, message] of cases) {
    const got = refusal(t, env)
    t.equal(got, message, JSON.stringify(env))
    t.notMatch(got, /\n/, 'one line')
  }
  t.notMatch(refusal(t, { JWT_SECRET: 'hunter2' }), /hunter2/, 'the secret is not in the message')
})

t.test('TRUST_PROXY: true, false, or addresses and CIDR ranges', async t => {
  t.equal(loadConfig({}).trustProxy, false, 'unset: no proxy is trusted')
  t.equal(loadConfig({ TRUST_PROXY: 'false' }).trustProxy, false)
  t.equal(loadConfig({ TRUST_PROXY: 'true' }).trustProxy, true)
  t.strictSame(loadConfig({ TRUST_PROXY: '10.0.0.1' }).trustProxy, ['10.0.0.1'])
  t.strictSame(loadConfig({ TRUST_PROXY: ' 10.0.0.0/8 , 172.16.0.0/12,::1, fd00::/8 ' }).trustProxy, ['10.0.0.0/8', '172.16.0.0/12', '::1', 'fd00::/8'])
  t.strictSame(loadConfig({ TRUST_PROXY: '127.0.0.1,' }).trustProxy, ['127.0.0.1'], 'a trailing comma is ignored')
  const accepts = 'true, false, or a comma-separated list of proxy addresses or CIDR ranges'
  // "2" is a hop count, which Fastify 5.12 does not take: as an address it would mean 0.0.0.2
  for (const value of ['yes', 'TRUE', '1', '2', 'abc', 'dead:beef', '10.0.0', '10.0.0.0/33', '::1/129', '10.0.0.0/8/8', '10.0.0.0/', ',', ' ', 'true,10.0.0.1', 'loopback']) {
    t.equal(refusal(t, { TRUST_PROXY: value }), `TRUST_PROXY=${JSON.stringify(value)} is invalid; expected ${accepts}`, JSON.stringify(value))
  }
})

t.test('CORS_ORIGIN: * or exact origins', async t => {
  t.equal(loadConfig({}).corsOrigin, undefined, 'unset: no CORS')
  t.equal(loadConfig({ CORS_ORIGIN: '*' }).corsOrigin, '*')
  t.strictSame(loadConfig({ CORS_ORIGIN: 'https://app.example.com' }).corsOrigin, ['https://app.example.com'], 'one origin is a list of one')
  t.strictSame(loadConfig({ CORS_ORIGIN: 'https://app.example.com , http://localhost:5173,https://b.example.org:8443' }).corsOrigin,
    ['https://app.example.com', 'http://localhost:5173', 'https://b.example.org:8443'])
  const accepts = '* or a comma-separated list of http(s) origins'
  // An origin has no path, no trailing slash, no default port and a lower-case host:
  // @fastify/cors compares strings, so any of these would never match a browser's Origin.
  for (const value of ['app.example.com', 'https://app.example.com/', 'https://app.example.com/path', 'https://App.example.com', 'https://app.example.com:443',
    'https://app.example.com,*', '*,https://app.example.com', 'ftp://app.example.com', 'https://app.example.com,', 'null']) {
    t.equal(refusal(t, { CORS_ORIGIN: value }), `CORS_ORIGIN=${JSON.stringify(value)} is invalid; expected ${accepts}`, JSON.stringify(value))
  }
})

t.test('token keys', async t => {
  t.equal(refusal(t, { NODE_ENV: 'production' }), 'NODE_ENV=production needs a token key: set JWT_SECRET (HS256), JWT_PUBLIC_KEY (PEM) or JWKS_URL', 'production without a key')
  t.equal(refusal(t, { NODE_ENV: 'production', JWT_SECRET: '' }), 'NODE_ENV=production needs a token key: set JWT_SECRET (HS256), JWT_PUBLIC_KEY (PEM) or JWKS_URL', 'an empty key is no key')
  t.strictSame(loadConfig({ NODE_ENV: 'test' }).auth, { kind: 'secret', secret: DEVELOPMENT_SECRET, algorithms: ['HS256'], development: true }, 'tests use the development secret')

  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' })
  const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string
  t.strictSame(loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret }).auth, { kind: 'secret', secret, algorithms: ['HS256'], development: false })
  t.strictSame(loadConfig({ NODE_ENV: 'production', JWT_PUBLIC_KEY: pem.replace(/\n/g, '\\n') }).auth, { kind: 'public-key', publicKey: pem, algorithms: ['ES384'] })
  t.strictSame(loadConfig({ NODE_ENV: 'production', JWKS_URL: 'https://idp.example.com/.well-known/jwks.json' }).auth, {
    kind: 'jwks',
    url: 'https://idp.example.com/.well-known/jwks.json',
    algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']
  })

  const jwks = 'https://idp.example.com/jwks.json'
  t.equal(refusal(t, { JWT_SECRET: secret, JWT_PUBLIC_KEY: pem }), 'set only one of JWT_SECRET, JWT_PUBLIC_KEY, JWKS_URL (got JWT_SECRET and JWT_PUBLIC_KEY)')
  t.equal(refusal(t, { JWT_SECRET: secret, JWKS_URL: jwks }), 'set only one of JWT_SECRET, JWT_PUBLIC_KEY, JWKS_URL (got JWT_SECRET and JWKS_URL)')
  t.equal(refusal(t, { NODE_ENV: 'production', JWT_SECRET: secret, JWT_PUBLIC_KEY: pem, JWKS_URL: jwks }),
    'set only one of JWT_SECRET, JWT_PUBLIC_KEY, JWKS_URL (got JWT_SECRET and JWT_PUBLIC_KEY and JWKS_URL)')
  t.equal(loadConfig({ JWT_SECRET: secret, JWT_PUBLIC_KEY: '' }).auth.kind, 'secret', 'an empty variable is not a second key')
})
