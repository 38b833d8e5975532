// One onnxruntime session: opened from a model file with its thread counts
// pinned, described as the server reads a model, and run with our tensors.
// The same code runs in the inference worker threads and, for models whose
// runs take microseconds, on the main thread (runtime/placement).

import { binding, initOrt, type Binding } from 'onnxruntime-node/dist/binding'
import { isTensorType, type TensorArray, type TensorData, type TensorMap, type TensorSpec } from '../tensors/tensor'
import { ModelRunError } from '../errors'
import type { SessionMetadata } from './worker-messages'

// The binding's element type codes (ONNX's TensorProto.DataType), as
// onnxruntime-node's own session names them.
const ELEMENT_TYPES: Array<string | undefined> = [
  undefined, 'float32', 'uint8', 'int8', 'uint16', 'int16', 'int32', 'int64', 'string', 'bool',
  'float16', 'float64', 'uint32', 'uint64', undefined, undefined, undefined, undefined, undefined,
  undefined, undefined, 'uint4', 'int4'
]

function describe (values: readonly Binding.ValueMetadata[], metadata: SessionMetadata, into: TensorSpec[]): void {
  for (const value of values) {
    if (!value.isTensor) {
      metadata.nonTensorOutputs.push(value.name)
      continue
    }
    const type = ELEMENT_TYPES[value.type]
    // onnxruntime-node's own words for it: lib/models/loader explains them to the user.
    if (type === undefined) throw new Error(`Unsupported data type: ${value.type}`)
    into.push({
      name: value.name,
      // Checked by describeVersion (lib/models/version.ts), which refuses types we cannot encode.
      type: type as TensorSpec['type'],
      shape: value.shape.map(dim => dim >= 0 ? dim : -1)
    })
    metadata.dimNames[value.name] = value.shape.map((dim, i) => dim < 0 && value.symbolicDimensions[i] !== '' ? value.symbolicDimensions[i] : null)
  }
}

/**
 * A session of onnxruntime-node's native binding, run synchronously.
 * onnxruntime-node's InferenceSession wraps the same object: it defers every
 * run to a setImmediate (a whole extra turn of the event loop per run, and a
 * reply later by that turn) and wraps inputs and outputs in its Tensor
 * class, checking them again. Our callers check requests against the
 * model's metadata before they get here, and placement decides which runs
 * are short enough for the thread they are on, so the run is called directly.
 */
export class OrtSession {
  private readonly outputNames: Set<string>

  private constructor (private readonly native: Binding.InferenceSession, readonly metadata: SessionMetadata) {
    this.outputNames = new Set(metadata.outputs.map(spec => spec.name))
  }

  /** Opens `path` with `threads` intra-op threads; blocks the calling thread while the runtime builds the session. */
  static open (path: string, threads: number): OrtSession {
    initOrt()
    const native = new binding.InferenceSession()
    native.loadModel(path, {
      // The runtime defaults to one thread per physical core of the host; the
      // pool already spreads work across workers, so each session gets few.
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // The runtime would print its own lines to stderr, outside the JSON log;
      // its errors reach the client and the log through the thrown error.
      logSeverityLevel: 4
    })
    const metadata: SessionMetadata = { inputs: [], outputs: [], nonTensorOutputs: [], dimNames: {} }
    try {
      describe(native.inputMetadata, metadata, metadata.inputs)
      describe(native.outputMetadata, metadata, metadata.outputs)
    } catch (error) {
      native.dispose()
      throw error
    }
    return new OrtSession(native, metadata)
  }

  /**
   * Runs the model now, on this thread; `ms` is the run alone (see
   * runCostMs). Without `measureCpu`, `ms` is the wall time alone: the
   * process's CPU time is a getrusage call that costs several µs with the
   * server's threads, more than a tiny model's run, so placement asks for
   * it only when the wall time alone would count.
   */
  run (feeds: TensorMap, fetches: string[], measureCpu = true): { outputs: TensorMap, ms: number } {
    const inputs: Record<string, NativeTensor> = {}
    for (const name in feeds) inputs[name] = nativeTensor(feeds[name])
    const wanted: Record<string, null> = {}
    for (const name of fetches) {
      // The binding would skip an unknown name and fail on "no output requested", or answer without it.
      if (!this.outputNames.has(name)) throw runFailure(new Error(`'${name}' is not an output of the model`))
      wanted[name] = null
    }
    const startCpu = measureCpu ? cpuMicros() : 0
    const start = performance.now()
    let results: Record<string, { type: string, dims: readonly number[], data: unknown }>
    try {
      results = this.native.run(inputs as unknown as Parameters<Binding.InferenceSession['run']>[0], wanted, {}) as typeof results
    } catch (error) {
      throw runFailure(error)
    }
    const wallMs = performance.now() - start
    const ms = measureCpu ? runCostMs(wallMs, cpuMicros() - startCpu) : wallMs
    const outputs: TensorMap = {}
    for (const name in results) {
      const tensor = results[name]
      if (!isTensorType(tensor.type)) throw new Error(`output '${name}' has type ${tensor.type}, which cannot be returned`)
      outputs[name] = { type: tensor.type, dims: [...tensor.dims], data: float16Bits(tensor.type, tensor.data as TensorArray) }
    }
    return { outputs, ms }
  }

  release (): void {
    this.native.dispose()
  }
}

/** What the binding reads of an input: a CPU tensor's type, dims and data. */
interface NativeTensor {
  location: 'cpu'
  type: string
  dims: readonly number[]
  data: TensorArray
}

// The binding reads float16 data as the Uint16Array of half-float bits our
// tensors hold (onnxruntime-node's Tensor class would wrap it in a
// Float16Array where the runtime has one, Node 24, which the 1.30 binding
// cannot read).
function nativeTensor (tensor: TensorData): NativeTensor {
  return { location: 'cpu', type: tensor.type, dims: tensor.dims, data: tensor.data }
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
