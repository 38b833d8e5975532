// Log lines gathered before pino's destination stream: written in pieces of
// a few kilobytes, in the order they were logged, and nothing left behind
// by a flush.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { destination, pino } from 'pino'
import t from 'tap'
import { writeInfo } from '../../../lib/logs/info-line'
import { LineBatch, type LineStream } from '../../../lib/logs/line-batch'

function recording (): LineStream & { writes: string[], flushes: number } {
  const stream = {
    writes: [] as string[],
    flushes: 0,
    write: (text: string) => { stream.writes.push(text) },
    flush: (callback?: (error?: Error) => void) => { stream.flushes++; callback?.() },
    flushSync: () => { stream.flushes++ }
  }
  return stream
}

const line = (i: number): string => `line ${i} xxxxx\n` // 13 characters

t.test('lines reach the stream once they fill a piece, and at every flush', async t => {
  const stream = recording()
  const batch = new LineBatch(stream, 100)
  for (let i = 0; i < 7; i++) batch.write(line(i))
  t.same(stream.writes, [], 'seven lines, 91 characters: nothing written yet')
  batch.write(line(7))
  t.same(stream.writes, [Array.from({ length: 8 }, (_, i) => line(i)).join('')], 'the eighth reaches 104: all eight in one write')
  batch.write(line(8))
  batch.write(line(9))
  await new Promise<void>(resolve => batch.flush(() => resolve()))
  t.same(stream.writes.slice(1), [line(8) + line(9)], 'flush hands what is gathered')
  t.equal(stream.flushes, 1, 'and asks the stream to write')
  batch.flushSync()
  t.equal(stream.writes.length, 2, 'nothing gathered: nothing handed')
  t.equal(stream.flushes, 2)
})

t.test('pino\'s lines and the pre-built ones keep their order in the file', async t => {
  const file = join(t.testdir(), 'server.log')
  const batch = new LineBatch(destination({ dest: file, sync: true }), 4096)
  const logger = pino({ level: 'info' }, batch)
  for (let i = 0; i < 200; i++) {
    if (i % 3 === 0) logger.warn({ i }, 'through pino')
    else writeInfo(logger, `"i":${i}`, 'pre-built')
  }
  const written = readFileSync(file, 'utf8').length
  batch.flushSync()
  const text = readFileSync(file, 'utf8')
  t.ok(written > 0 && written < text.length, `written in pieces: ${written} of ${text.length} characters before the flush`)
  const lines = text.trim().split('\n').map(text => JSON.parse(text) as { i: number, msg: string })
  t.same(lines.map(entry => entry.i), Array.from({ length: 200 }, (_, i) => i), 'every line, in order')
  t.same(lines.slice(0, 3).map(entry => entry.msg), ['through pino', 'pre-built', 'pre-built'])
})
