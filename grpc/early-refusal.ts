// A server interceptor that refuses a call from its metadata, before its
// message is read: grpc-js reads and decodes a whole message (up to
// BODY_LIMIT bytes, a CPU-heavy decode for some) before a handler runs, so
// without it a caller with no token could make the server hold and decode
// megabytes per call for nothing. A call of a scoped RPC needs a token that
// verifies (the failed-authentication limit applies as over HTTP); its
// scope and quota are the handler's. A unary call whose message has not
// arrived within REQUEST_TIMEOUT_MS is ended, as HTTP ends a slow body.

import { ServerInterceptingCall, status, type ServerInterceptor } from '@grpc/grpc-js'
import { InferenceTimeoutError } from '../lib/errors'
import type { CallPipeline, CallPolicy } from './call-pipeline'
import { releaseWhenClosed } from './closed-stream-release'
import { toServiceError } from './status'

/** The policy of a method by its path (/package.Service/Method), or undefined for one that needs no token. */
export type PolicyOf = (path: string) => CallPolicy | undefined

export function earlyRefusal (pipeline: CallPipeline, policyOf: PolicyOf, receiveTimeoutMs: number): ServerInterceptor {
  return (method, call) => new ServerInterceptingCall(call, {
    start: next => {
      // `call` is grpc-js's own call object here, this being the first interceptor.
      releaseWhenClosed(call)
      const policy = policyOf(method.path)
      let timer: NodeJS.Timeout | undefined
      let ended = false
      const refuse = (surface: Parameters<CallPipeline['begin']>[0], error: unknown): void => {
        if (ended) return
        ended = true
        clearTimeout(timer)
        const context = pipeline.begin(surface, policy?.method ?? method.path)
        const refusal = toServiceError(error, pipeline.trailers(context))
        pipeline.finish(policy ?? { method: method.path }, context, refusal.code ?? status.INTERNAL, error)
        call.sendStatus({ code: refusal.code ?? status.INTERNAL, details: refusal.details ?? '', metadata: refusal.metadata })
      }
      next({
        onReceiveMetadata: (metadata, proceed) => {
          const surface = { metadata, getPeer: () => call.getPeer(), getDeadline: () => call.getDeadline() }
          if (!method.requestStream) {
            timer = setTimeout(() => refuse(surface, new InferenceTimeoutError(`the request message was not received within ${receiveTimeoutMs} ms (REQUEST_TIMEOUT_MS)`)), receiveTimeoutMs)
          }
          if (policy?.scope === undefined) {
            proceed(metadata)
            return
          }
          pipeline.verify(surface).then(() => { if (!ended) proceed(metadata) }, (error: unknown) => refuse(surface, error))
        },
        onReceiveMessage: (message, proceed) => {
          clearTimeout(timer)
          proceed(message)
        },
        onCancel: () => clearTimeout(timer)
      })
    }
  })
}
