// The one log line of a gRPC call (or a stream's message): as an object for
// pino, and the same JSON pre-built as one string for the info line of a
// call that succeeded (lib/logs/info-line: pino's object walk was 6% of a
// call's CPU). test/grpc/call-log-line.test.ts compares the two.

import type { status } from '@grpc/grpc-js'
import { inferenceFields, stringField, traceFields } from '../lib/logs/info-line'
import type { CallContext } from './call-pipeline'

/** The line's fields, for pino. */
export function callLine (method: string, context: CallContext, code: status, responseTime: number): Record<string, unknown> {
  const { inference, trace } = context.facts
  const sub = context.claims?.sub
  return {
    reqId: context.requestId,
    grpc: { method, code },
    remoteAddress: context.address,
    ...(typeof sub === 'string' ? { sub } : {}),
    responseTime,
    ...inference,
    ...(trace === undefined ? {} : { trace_id: trace.traceId, span_id: trace.spanId })
  }
}

/** The same fields as JSON without braces, for writeInfo. */
export function callLineFields (method: string, context: CallContext, code: status, responseTime: number): string {
  const sub = context.claims?.sub
  return `"reqId":${JSON.stringify(context.requestId)},"grpc":{"method":${JSON.stringify(method)},"code":${code}},"remoteAddress":${JSON.stringify(context.address)}` +
    `${stringField('sub', typeof sub === 'string' ? sub : undefined)},"responseTime":${responseTime}` +
    `${inferenceFields(context.facts.inference)}${traceFields(context.facts.trace)}`
}
