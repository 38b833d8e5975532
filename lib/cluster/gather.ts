// With WORKERS > 1 a request lands on one server process, but some answers
// are about the whole group (the statistics extension's counts, like the
// metrics): the process asks the primary, the primary asks every server
// process for its part, and sends the parts back to the one that asked,
// which sums them. Each process answers with a function it registered for
// the kind of part asked.

import cluster, { type Worker } from 'node:cluster'
import { randomUUID } from 'node:crypto'

const ASK = 'onnxServeGatherAsk'
const PART = 'onnxServeGatherPart'
const PARTS = 'onnxServeGatherParts'
const PART_ASK = 'onnxServeGatherPartAsk'
/** How long the primary waits for the processes' parts; a process that does not answer is left out. */
const PART_TIMEOUT_MS = 3000
/** How long a process waits for the primary: the parts' deadline and a little more. */
const TIMEOUT_MS = PART_TIMEOUT_MS + 1000

interface Ask { id: string, kind: string }
interface Part { id: string, part?: unknown }
interface Parts { id: string, parts: unknown[] }

function field<T> (message: unknown, name: string): T | undefined {
  if (typeof message !== 'object' || message === null || !(name in message)) return undefined
  const value = (message as Record<string, unknown>)[name]
  return typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string' ? value as T : undefined
}

/** In the primary: relays each process's ask to every process, and their parts back. */
export function relayGathers (): void {
  const waiting = new Map<string, { parts: unknown[], missing: Set<number>, done: () => void }>()
  cluster.on('message', (asker: Worker, message: unknown) => {
    const part = field<Part>(message, PART)
    if (part !== undefined) {
      const gather = waiting.get(part.id)
      if (gather === undefined || !gather.missing.delete(asker.id)) return
      gather.parts.push(part.part)
      if (gather.missing.size === 0) gather.done()
      return
    }
    const ask = field<Ask>(message, ASK)
    if (ask === undefined || typeof ask.kind !== 'string') return
    const workers = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker?.isConnected() === true)
    const gather = { parts: [] as unknown[], missing: new Set(workers.map(worker => worker.id)), done: () => {} }
    const timer = setTimeout(() => gather.done(), PART_TIMEOUT_MS)
    gather.done = () => {
      clearTimeout(timer)
      waiting.delete(ask.id)
      if (asker.isConnected()) asker.send({ [PARTS]: { id: ask.id, parts: gather.parts } satisfies Parts }, undefined, () => {})
    }
    waiting.set(ask.id, gather)
    for (const worker of workers) worker.send({ [PART_ASK]: ask }, undefined, () => {})
    if (workers.length === 0) gather.done()
  })
}

/** In a server process: answers the primary's asks for `kind` with `part()`. */
export function answerGathers (kind: string, part: () => unknown): void {
  process.on('message', (message: unknown) => {
    const ask = field<Ask>(message, PART_ASK)
    if (ask === undefined || ask.kind !== kind) return
    process.send?.({ [PART]: { id: ask.id, part: part() } satisfies Part }, undefined, {}, () => {})
  })
}

/** In a server process: every process's part of `kind`, this one's included, through the primary. */
export async function gatherFromAll (kind: string): Promise<unknown[]> {
  return await new Promise((resolve, reject) => {
    const id = randomUUID()
    const timer = setTimeout(() => {
      process.off('message', onParts)
      reject(new Error(`the primary process did not answer for '${kind}' within ${TIMEOUT_MS} ms`))
    }, TIMEOUT_MS)
    const onParts = (message: unknown): void => {
      const parts = field<Parts>(message, PARTS)
      if (parts?.id !== id) return
      clearTimeout(timer)
      process.off('message', onParts)
      resolve(parts.parts)
    }
    process.on('message', onParts)
    process.send?.({ [ASK]: { id, kind } satisfies Ask })
  })
}
