// The pre-built info line of a gRPC call (grpc/call-log-line) against the
// line pino writes for the same fields: the same JSON, key for key.

import { Writable } from 'node:stream'
import t from 'tap'
import { pino } from 'pino'
import { status } from '@grpc/grpc-js'
import { callLine, callLineFields } from '../../grpc/call-log-line'
import type { CallContext } from '../../grpc/call-pipeline'
import { infoLineMode, writeInfo } from '../../lib/logs/info-line'

function capturingLogger (level = 'info'): { logger: pino.Logger, lines: string[] } {
  const lines: string[] = []
  const stream = new Writable({ write (chunk: Buffer | string, _encoding, callback) { lines.push(String(chunk)); callback() } })
  return { logger: pino({ level, base: { pid: 7, hostname: 'pod-"a"' } }, stream), lines }
}

const CONTEXTS: Array<[string, CallContext]> = [
  ['a health call, no caller', { requestId: 'f0e1', address: '127.0.0.1', facts: { requestId: 'f0e1' }, startedAt: 0 }],
  ['an inference with a caller and a cache', {
    requestId: 'req-1',
    address: '::1',
    claims: { sub: 'tenant "7"\u2028', scope: 'predict' },
    facts: { requestId: 'req-1', inference: { model: 'm"odel', version: 3, rows: 2, inferenceMs: 0.125, cache: 'MISS' } },
    startedAt: 0
  }],
  ['an inference in a trace, without a cache', {
    requestId: 'req-2',
    address: '10.0.0.9',
    claims: { sub: 'svc', scope: 'predict' },
    facts: { requestId: 'req-2', inference: { model: 'iris', version: 1, rows: 1, inferenceMs: 0.5 }, trace: { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16) } },
    startedAt: 0
  }],
  ['a caller whose sub is not a string', { requestId: 'req-3', address: '127.0.0.1', claims: { sub: 42 as unknown as string, scope: 'admin' }, facts: { requestId: 'req-3' }, startedAt: 0 }]
]

t.test('the pre-built line says what pino says', async t => {
  for (const [what, context] of CONTEXTS) {
    const mine = capturingLogger()
    const theirs = capturingLogger()
    t.equal(infoLineMode(mine.logger), 'write')
    writeInfo(mine.logger, callLineFields('ModelInfer', context, status.OK, 1.2345), 'call completed')
    theirs.logger.info(callLine('ModelInfer', context, status.OK, 1.2345), 'call completed')
    t.equal(mine.lines.length, 1)
    t.ok(mine.lines[0].endsWith('}\n'), 'one line, newline-terminated')
    const parsed = JSON.parse(mine.lines[0]) as Record<string, unknown>
    const reference = JSON.parse(theirs.lines[0]) as Record<string, unknown>
    t.type(parsed.time, 'number')
    t.same({ ...parsed, time: 0 }, { ...reference, time: 0 }, `${what}: the same fields and values`)
    t.same(Object.keys(parsed), Object.keys(reference), `${what}: in the same order`)
  }
})

t.test('info off: nothing to build; another logger: through it', async t => {
  t.equal(infoLineMode(capturingLogger('warn').logger), 'skip')
  t.equal(infoLineMode({ info: () => {} }), 'pino')
})
