// Info lines built as one string and written straight to pino's stream: the
// same JSON that pino writes for a flat object of fields, at a fraction of
// the cost (pino walks the object and escapes every key on every line). For
// the one line per request or call of the transports; errors and warnings,
// rarer and carrying an error object, go through pino.

import { symbols } from 'pino'
import type { InferenceRecord, RequestFacts } from '../data-plane/infer-codec'

/** pino's numeric level of info. */
const INFO = 30

interface PinoInternals {
  isLevelEnabled?: (level: string) => boolean
  [symbols.streamSym]?: { write: (line: string) => unknown }
  [symbols.chindingsSym]?: string
}

/**
 * How an info line goes to `logger`: 'write' (pino's own logger with info
 * on: writeInfo), 'skip' (info is off: nothing to build), or 'pino' (some
 * other logger: log through it).
 */
export function infoLineMode (logger: unknown): 'write' | 'skip' | 'pino' {
  const log = logger as PinoInternals
  if (typeof log.isLevelEnabled !== 'function' || log[symbols.streamSym] === undefined || typeof log[symbols.chindingsSym] !== 'string') return 'pino'
  return log.isLevelEnabled('info') ? 'write' : 'skip'
}

/**
 * Writes `{"level":30,"time":…,<the logger's bindings>,<fields>,"msg":<msg>}`
 * to the stream of a logger whose infoLineMode is 'write'; `fields` is the
 * JSON of the line's own fields, without braces.
 */
export function writeInfo (logger: unknown, fields: string, msg: string): void {
  const log = logger as Required<PinoInternals>
  log[symbols.streamSym].write(`{"level":${INFO},"time":${Date.now()}${log[symbols.chindingsSym]},${fields},"msg":${JSON.stringify(msg)}}\n`)
}

/** `,"key":value` for a string the client may have chosen (escaped), or nothing when absent. */
export function stringField (key: string, value: string | undefined): string {
  return value === undefined ? '' : `,"${key}":${JSON.stringify(value)}`
}

/** The data plane's record of an inference, as pino writes the record's fields spread into the line. */
export function inferenceFields (inference: InferenceRecord | undefined): string {
  if (inference === undefined) return ''
  return `,"model":${JSON.stringify(inference.model)},"version":${inference.version},"rows":${inference.rows},"inferenceMs":${inference.inferenceMs}` +
    stringField('cache', inference.cache)
}

/** The request's span, with tracing on: OpenTelemetry's names for them in logs. */
export function traceFields (trace: RequestFacts['trace']): string {
  return trace === undefined ? '' : `,"trace_id":"${trace.traceId}","span_id":"${trace.spanId}"`
}
