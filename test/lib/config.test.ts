import t, { type Test } from 'tap'
import { resolve } from 'node:path'
import { ConfigError, loadConfig } from '../../lib/config'
import { cpuQuota } from '../../lib/cpu-quota'

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
    host: '127.0.0.1',
    logLevel: 'info',
    modelRepository: resolve('./models'),
    defaultModel: undefined,
    bodyLimit: 1024 * 1024,
    workers: 1,
    inferenceThreads: cpuQuota(),
    inferenceQueue: 256,
    inferenceTimeoutMs: 30000,
    maxRows: 1024,
    maxTensorElements: 1000000,
    shutdownDelayMs: 0
  })
})

t.test('reads every variable', async t => {
  const config = loadConfig({
    NODE_ENV: 'production',
    PORT: '8080',
    HOST: '0.0.0.0',
    LOG_LEVEL: 'warn',
    MODEL_REPOSITORY: '/srv/models',
    DEFAULT_MODEL: 'iris',
    BODY_LIMIT: '2048',
    WORKERS: '4',
    INFERENCE_THREADS: '3',
    INFERENCE_QUEUE: '10',
    INFERENCE_TIMEOUT_MS: '500',
    MAX_ROWS: '64',
    MAX_TENSOR_ELEMENTS: '4096',
    SHUTDOWN_DELAY_MS: '5000',
    UNRELATED: 'ignored'
  })
  t.strictSame(config, {
    env: 'production',
    port: 8080,
    host: '0.0.0.0',
    logLevel: 'warn',
    modelRepository: '/srv/models',
    defaultModel: 'iris',
    bodyLimit: 2048,
    workers: 4,
    inferenceThreads: 3,
    inferenceQueue: 10,
    inferenceTimeoutMs: 500,
    maxRows: 64,
    maxTensorElements: 4096,
    shutdownDelayMs: 5000
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
