// One onnxruntime session: opened from a model file with its thread counts
// pinned, described as the server reads a model, and run with our tensors.
// The same code runs in the inference worker threads and, for models whose
// runs take microseconds, on the main thread (runtime/placement).

import * as ort from 'onnxruntime-node'
import { isTensorType, type TensorArray, type TensorData, type TensorMap, type TensorSpec } from '../tensors/tensor'
import { ModelRunError } from '../errors'
import type { SessionMetadata } from './worker-messages'

function describe (values: readonly ort.InferenceSession.ValueMetadata[], metadata: SessionMetadata, into: TensorSpec[]): void {
  for (const value of values) {
    if (!value.isTensor) {
      metadata.nonTensorOutputs.push(value.name)
      continue
    }
    into.push({
      name: value.name,
      // Checked by describeVersion (lib/models/version.ts), which refuses types we cannot encode.
      type: value.type as TensorSpec['type'],
      shape: value.shape.map(dim => typeof dim === 'number' && dim >= 0 ? dim : -1)
    })
    metadata.dimNames[value.name] = value.shape.map(dim => typeof dim === 'string' && dim !== '' ? dim : null)
  }
}

export async function openSession (path: string, threads: number): Promise<{ session: ort.InferenceSession, metadata: SessionMetadata }> {
  const session = await ort.InferenceSession.create(path, {
    // The runtime defaults to one thread per physical core of the host; the
    // pool already spreads work across workers, so each session gets few.
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // The runtime would print its own lines to stderr, outside the JSON log;
    // its errors reach the client and the log through the rejected call.
    logSeverityLevel: 4
  })
  const metadata: SessionMetadata = { inputs: [], outputs: [], nonTensorOutputs: [], dimNames: {} }
  describe(session.inputMetadata, metadata, metadata.inputs)
  describe(session.outputMetadata, metadata, metadata.outputs)
  return { session, metadata }
}

// Where the runtime has Float16Array (Node 24), onnxruntime-common wraps
// float16 data in one, which onnxruntime-node 1.30's native binding cannot
// read ("not enough space: expected 4, got 0"): the tensor keeps the
// Uint16Array of half-float bits it was given, and outputs come back as bits.
function ortTensor (tensor: TensorData): ort.Tensor {
  const value = new ort.Tensor(tensor.type, tensor.data, tensor.dims)
  if (tensor.type === 'float16' && value.data !== tensor.data) (value as unknown as { cpuData: TensorArray }).cpuData = tensor.data
  return value
}

function float16Bits (type: string, data: TensorArray): TensorArray {
  if (type !== 'float16' || data instanceof Uint16Array || Array.isArray(data)) return data
  return new Uint16Array(data.buffer, data.byteOffset, data.length)
}

// The runtime failing for itself (memory) rather than for the request's values.
const SERVER_FAULT = /alloc|out of memory|bad_alloc/i

/**
 * A failed run as the client should see it: the runtime's message, cleaned of
 * the paths of its source files and of the model (which are the server's), as
 * a 400; a runtime fault stays an internal error.
 */
export function runFailure (error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error)
  if (SERVER_FAULT.test(message)) return error instanceof Error ? error : new Error(message)
  const cleaned = message.replace(/(?:[A-Za-z]:)?(?:[\\/][^\s'"\\/:]+){2,}/g, path => path.split(/[\\/]/).pop() ?? '').trim()
  return new ModelRunError(`inputs: the model could not run on these values: ${cleaned}`)
}

/**
 * A run's cost in ms from its wall time and the process's CPU time over it:
 * the smaller. A run preempted by another process (or by the profiler's
 * sampling) takes longer on the wall clock than it costs, and moving its
 * version to a worker on that evidence would not help the loop; another
 * thread of the process busy meanwhile inflates the CPU time instead, never
 * both by the same amount.
 */
export function runCostMs (wallMs: number, cpuMicros: number): number {
  return Math.min(wallMs, cpuMicros / 1000)
}

function cpuMicros (): number {
  const usage = process.cpuUsage()
  return usage.user + usage.system
}

/**
 * Runs `session`; the result's `ms` is the run itself (onnxruntime-node runs
 * it synchronously, in a later turn of the loop): see runCostMs. Without
 * `measureCpu`, `ms` is the wall time alone: the process's CPU time is a
 * getrusage call that costs several µs with the server's threads, more than
 * a tiny model's run, so placement asks for it only when the wall time
 * alone would count.
 */
export async function runSession (session: ort.InferenceSession, feeds: TensorMap, fetches: string[], measureCpu = true): Promise<{ outputs: TensorMap, ms: number }> {
  const inputs: Record<string, ort.Tensor> = {}
  for (const [name, tensor] of Object.entries(feeds)) inputs[name] = ortTensor(tensor)
  // session.run defers the run to a setImmediate: one queued just before it
  // marks its start, and the await resumes right after it, so `ms` is the
  // run alone, not the other work of the loop's turn.
  let start = performance.now()
  let startCpu = 0
  setImmediate(() => {
    start = performance.now()
    if (measureCpu) startCpu = cpuMicros()
  })
  let results: ort.InferenceSession.OnnxValueMapType
  try {
    results = await session.run(inputs, fetches)
  } catch (error) {
    throw runFailure(error)
  }
  const wallMs = performance.now() - start
  const ms = measureCpu ? runCostMs(wallMs, cpuMicros() - startCpu) : wallMs
  const outputs: TensorMap = {}
  for (const [name, tensor] of Object.entries(results)) {
    if (!isTensorType(tensor.type)) throw new Error(`output '${name}' has type ${tensor.type}, which cannot be returned`)
    outputs[name] = { type: tensor.type, dims: [...tensor.dims], data: float16Bits(tensor.type, tensor.data as TensorArray) }
  }
  return { outputs, ms }
}
