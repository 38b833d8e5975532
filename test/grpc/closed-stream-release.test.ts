// The release of a finished call's HTTP/2 stream (grpc/closed-stream-release),
// against grpc-js itself: if an upgrade stopped showing the stream to the
// first interceptor, the release would silently stop, and this test fails.

import { EventEmitter, once } from 'node:events'
import t from 'tap'
import { Server, ServerCredentials, ServerInterceptingCall, status, type ServerInterceptor } from '@grpc/grpc-js'
import { releaseWhenClosed, streamOf } from '../../grpc/closed-stream-release'
import { loadInferenceService } from '../../grpc/service-definition'
import { inferenceClient } from '../helpers/grpc-client'

t.test('a closed stream keeps no listener that reaches its call', async t => {
  const streams: EventEmitter[] = []
  const closed: Array<Promise<unknown>> = []
  const watch: ServerInterceptor = (_method, call) => {
    const stream = streamOf(call)
    releaseWhenClosed(call)
    if (stream instanceof EventEmitter) {
      streams.push(stream)
      // Added after the release's own listener, so it is called after it.
      closed.push(once(stream, 'close'))
    }
    return new ServerInterceptingCall(call)
  }
  const server = new Server({ interceptors: [watch] })
  server.addService(loadInferenceService(), {
    ServerLive: (_call: unknown, callback: (error: null, response: { live: boolean }) => void) => callback(null, { live: true }),
    ServerReady: (_call: unknown, callback: (error: { code: status, details: string }) => void) => callback({ code: status.UNAVAILABLE, details: 'not ready' })
  })
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => error === null ? resolve(bound) : reject(error)))
  t.teardown(() => server.forceShutdown())
  const { client, call } = inferenceClient(`127.0.0.1:${port}`)
  t.teardown(() => client.close())

  t.same((await call('ServerLive', {}, { token: null })).response, { live: true }, 'an answer')
  t.equal((await call('ServerReady', {}, { token: null })).error?.code, status.UNAVAILABLE, 'an error status')
  t.equal(streams.length, 2, 'grpc-js shows the first interceptor each call\'s HTTP/2 stream')
  // The stream closes after the client has its status.
  await Promise.all(closed)
  for (const [i, stream] of streams.entries()) {
    t.same(stream.eventNames(), ['error'], `call ${i + 1}: only the shared error guard is left`)
    t.doesNotThrow(() => stream.emit('error', new Error('late')), `call ${i + 1}: a late error is still caught`)
  }
})

t.test('without a stream to release, nothing is done', async t => {
  t.equal(streamOf({}), undefined, 'an object without one')
  t.equal(streamOf(null), undefined, 'nothing at all')
  t.equal(streamOf({ stream: {} }), undefined, 'a stream that is not an emitter')
  t.doesNotThrow(() => releaseWhenClosed({ stream: 42 }), 'releaseWhenClosed passes over it')
})
