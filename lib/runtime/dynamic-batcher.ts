// Triton-style dynamic batching: requests for the same model that arrive
// within a short delay are concatenated along the batch dimension, run once,
// and the outputs split back, so many small requests cost few runs.

import { performance } from 'node:perf_hooks'
import { DeadlineExceededError } from '../errors'
import type { RunTimes } from '../stats/model-statistics'
import { elementCount, type TensorArray, type TensorData, type TensorMap } from '../tensors/tensor'
import { TurnGroup } from './turn-group'

export interface DynamicBatcherOptions {
  /** Rows one merged run may hold. */
  maxBatchSize: number
  /** How long the first request of a batch may wait for others. */
  maxQueueDelayMs: number
  /** Run as soon as this many rows are queued; default maxBatchSize. */
  preferredBatchSize?: number
  /**
   * Batches that may run at once, usually the inference workers. While fewer
   * are running, a request goes at once (with whatever arrived in the same
   * turn of the event loop) instead of waiting out the delay, and when a
   * batch finishes the next one goes; the delay only applies while every
   * worker is busy. Without it every batch waits for the delay, as Triton's does.
   */
  maxConcurrentBatches?: number | (() => number)
  /** Called as each batch leaves for a run: its rows, how long each of its requests waited, and their tags (submit's). */
  onBatch?: (rows: number, waitsMs: number[], tags: unknown[]) => void
  /** Called after each run that answered its requests: its rows, how long its stages took, and its requests' tags. */
  onExecuted?: (rows: number, times: RunTimes, tags: unknown[]) => void
}

/** Runs a batch; `deadline` (Date.now() time): past it, a run still queued is dropped (every request of the batch has given up). */
export type RunBatch = (feeds: TensorMap, fetches: string[], deadline?: number) => Promise<TensorMap>

interface Queued {
  feeds: TensorMap
  rows: number
  /** The caller's, given back with the batch's callbacks (a trace's span). */
  tag: unknown
  /** performance.now() when it was queued. */
  queuedAt: number
  /** Date.now() time after which its caller no longer waits: then it is dropped, not run. */
  deadline?: number
  resolve: (outputs: TensorMap) => void
  reject: (error: unknown) => void
}

interface Queue {
  fetches: string[]
  items: Queued[]
  rows: number
  timer?: NodeJS.Timeout | NodeJS.Immediate
}

/** Tensors joined along their first (batch) dimension. */
export function concat (parts: TensorData[]): TensorData {
  const first = parts[0]
  if (parts.length === 1) return first
  const rows = parts.reduce((sum, part) => sum + part.dims[0], 0)
  const dims = [rows, ...first.dims.slice(1)]
  if (Array.isArray(first.data)) {
    return { type: first.type, dims, data: parts.flatMap(part => part.data as string[]) }
  }
  const Ctor = first.data.constructor as new (length: number) => Exclude<TensorArray, string[]>
  const data = new Ctor(elementCount(dims))
  let offset = 0
  for (const part of parts) {
    const source = part.data as Exclude<TensorArray, string[]>
    // Every part has the same element type as the first.
    data.set(source as never, offset)
    offset += source.length
  }
  return { type: first.type, dims, data }
}

function slice (tensor: TensorData, fromRow: number, rows: number): TensorData {
  const stride = elementCount(tensor.dims.slice(1))
  // Every array type here has slice(from, to); the cast only spares a union call.
  const data = (tensor.data as Float32Array).slice(fromRow * stride, (fromRow + rows) * stride) as TensorArray
  return { type: tensor.type, dims: [rows, ...tensor.dims.slice(1)], data }
}

/** Requests can share a run when every input has the same type and non-batch dims. */
function batchKey (feeds: TensorMap, fetches: string[]): string {
  const inputs = Object.keys(feeds).sort().map(name => `${name}:${feeds[name].type}:${feeds[name].dims.slice(1).join('x')}`)
  return `${inputs.join(',')}|${fetches.join(',')}`
}

export class DynamicBatcher {
  /**
   * Whether recent turns of the event loop held more than one request
   * (runtime/turn-group): while they did not, a request has nobody to be
   * merged with, and the caller runs it at once through this group.
   */
  readonly turns = new TurnGroup()
  private readonly queues = new Map<string, Queue>()
  private readonly preferred: number
  private running = 0

  constructor (private readonly run: RunBatch, private readonly options: DynamicBatcherOptions) {
    this.preferred = Math.min(options.preferredBatchSize ?? options.maxBatchSize, options.maxBatchSize)
  }

  /** Batches that may run at once now: the runtime's answer may change as a model moves. */
  private concurrency (): number {
    const max = this.options.maxConcurrentBatches ?? 0
    return typeof max === 'number' ? max : max()
  }

  /**
   * Queues one request's feeds (its rows along dimension 0); resolves with
   * its own outputs. `deadline` (Date.now() time): when its batch leaves
   * after it, the request is refused rather than run.
   */
  submit (feeds: TensorMap, fetches: string[], tag?: unknown, deadline?: number): Promise<TensorMap> {
    this.turns.joined()
    const rows = Object.values(feeds)[0].dims[0]
    const key = batchKey(feeds, fetches)
    let queue = this.queues.get(key)
    // A request that would overflow the batch being gathered sends that batch first.
    if (queue !== undefined && queue.rows + rows > this.options.maxBatchSize) {
      this.flush(key)
      queue = undefined
    }
    if (queue === undefined) {
      queue = { fetches, items: [], rows: 0 }
      this.queues.set(key, queue)
    }
    const current = queue
    const result = new Promise<TensorMap>((resolve, reject) => {
      current.items.push({ feeds, rows, tag, queuedAt: performance.now(), deadline, resolve, reject })
    })
    current.rows += rows
    if (current.rows >= this.preferred) this.flush(key)
    else if (current.timer === undefined) {
      const idle = this.running < this.concurrency()
      // setImmediate still gathers the requests parsed in the same turn of the event loop.
      current.timer = this.options.maxQueueDelayMs > 0 && !idle
        ? setTimeout(() => this.flush(key), this.options.maxQueueDelayMs)
        : setImmediate(() => this.flush(key))
    }
    return result
  }

  /** Nothing queued or running, and recent turns held one request each: a request now is a batch of its own, best run at once through `turns`. */
  get alone (): boolean {
    return this.turns.atOnce && this.running === 0 && this.queues.size === 0
  }

  /** Rows waiting to be sent. */
  get queuedRows (): number {
    let rows = 0
    for (const queue of this.queues.values()) rows += queue.rows
    return rows
  }

  /** After a batch: send what waited, while there is room. */
  private flushWaiting (): void {
    for (const key of this.queues.keys()) {
      if (this.running >= this.concurrency()) return
      this.flush(key)
    }
  }

  private flush (key: string): void {
    const queue = this.queues.get(key)
    if (queue === undefined) return
    this.queues.delete(key)
    if (queue.timer !== undefined) {
      clearTimeout(queue.timer as NodeJS.Timeout)
      clearImmediate(queue.timer as NodeJS.Immediate)
    }
    const now = performance.now()
    const wall = Date.now()
    const expired = queue.items.filter(item => item.deadline !== undefined && item.deadline <= wall)
    if (expired.length > 0) {
      for (const item of expired) item.reject(new DeadlineExceededError(`the request's deadline passed after ${Math.round(now - item.queuedAt)} ms in the queue, before it ran`))
      queue.items = queue.items.filter(item => !expired.includes(item))
      queue.rows = queue.items.reduce((sum, item) => sum + item.rows, 0)
    }
    if (queue.items.length === 0) return
    this.turns.counted(queue.items.length)
    if (this.options.onBatch !== undefined) {
      this.options.onBatch(queue.rows, queue.items.map(item => now - item.queuedAt), queue.items.map(item => item.tag))
    }
    this.running++
    this.execute(queue).catch(() => {}).finally(() => {
      this.running--
      this.flushWaiting()
    })
  }

  private async execute ({ items, fetches }: Queue): Promise<void> {
    const joining = performance.now()
    const names = Object.keys(items[0].feeds)
    const feeds: TensorMap = {}
    for (const name of names) feeds[name] = concat(items.map(item => item.feeds[name]))
    const running = performance.now()
    // The batch is given up only when every request in it has: the latest deadline, if each has one.
    const deadlines = items.map(item => item.deadline)
    const deadline = deadlines.every(at => at !== undefined) ? Math.max(...deadlines as number[]) : undefined
    let outputs: TensorMap
    try {
      outputs = await this.run(feeds, fetches, deadline)
    } catch (error) {
      // One request's values (an index out of an embedding's range) fail the
      // whole merged run: run each alone, so only that request fails. A run
      // dropped at its deadline was given up by all of them.
      if (items.length === 1 || error instanceof DeadlineExceededError) for (const item of items) item.reject(error)
      else await Promise.all(items.map(item => this.execute({ items: [item], fetches, rows: item.rows })))
      return
    }
    const total = items.reduce((sum, item) => sum + item.rows, 0)
    const misaligned = Object.entries(outputs).find(([, tensor]) => tensor.dims[0] !== total)
    if (misaligned !== undefined) {
      const error = new Error(`output '${misaligned[0]}' has ${misaligned[1].dims[0]} rows for a batch of ${total}: this model cannot be batched`)
      for (const item of items) item.reject(error)
      return
    }
    const splitting = performance.now()
    if (items.length === 1) {
      items[0].resolve(outputs)
    } else {
      let row = 0
      for (const item of items) {
        const own: TensorMap = {}
        for (const [name, tensor] of Object.entries(outputs)) own[name] = slice(tensor, row, item.rows)
        row += item.rows
        item.resolve(own)
      }
    }
    this.options.onExecuted?.(total, { inputMs: running - joining, inferMs: splitting - running, outputMs: performance.now() - splitting }, items.map(item => item.tag))
  }
}
