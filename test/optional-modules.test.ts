// The Redis client and the OpenTelemetry SDK are loaded only when the
// configuration uses them: a default server does not hold their code (a few
// MB of heap, which V8 sizes the heap from).

import t from 'tap'
import { buildApp } from './helpers/build-app'
import { SHARED_REDIS_URL, sharedRedisSkip } from './helpers/redis'

const REDIS_CLIENT = /[\\/]node_modules[\\/]ioredis[\\/]/
const TRACING_SDK = /[\\/]node_modules[\\/]@opentelemetry[\\/](sdk-trace-node|exporter-trace-otlp-http)[\\/]/

function loaded (pattern: RegExp): boolean {
  return Object.keys(require.cache).some(path => pattern.test(path))
}

t.test('a default server loads neither', async t => {
  await buildApp(t)
  t.notOk(loaded(REDIS_CLIENT), 'no ioredis without REDIS_URL')
  t.notOk(loaded(TRACING_SDK), 'no OpenTelemetry SDK without an OTLP endpoint')
})

t.test('each is loaded once configured', { skip: sharedRedisSkip }, async t => {
  // Nothing is traced here, so nothing is sent to the endpoint.
  await buildApp(t, { REDIS_URL: SHARED_REDIS_URL, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })
  t.ok(loaded(REDIS_CLIENT), 'ioredis with REDIS_URL')
  t.ok(loaded(TRACING_SDK), 'the SDK with an OTLP endpoint')
})
