// Runs in a worker thread: onnxruntime-node creates sessions and runs them
// synchronously on the calling thread, so they must never live on the main
// event loop. Each worker holds one session per loaded model version.

import { parentPort } from 'node:worker_threads'
import * as ort from 'onnxruntime-node'
import type { SessionMetadata, WorkerReply, WorkerRequest } from './worker-messages'
import { isTensorType, transferList, type TensorArray, type TensorData, type TensorMap, type TensorSpec } from '../tensors/tensor'

const sessions = new Map<string, ort.InferenceSession>()

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

async function load (key: string, path: string, threads: number): Promise<SessionMetadata> {
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
  await sessions.get(key)?.release()
  sessions.set(key, session)
  const metadata: SessionMetadata = { inputs: [], outputs: [], nonTensorOutputs: [], dimNames: {} }
  describe(session.inputMetadata, metadata, metadata.inputs)
  describe(session.outputMetadata, metadata, metadata.outputs)
  return metadata
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

async function run (key: string, feeds: TensorMap, fetches: string[]): Promise<TensorMap> {
  const session = sessions.get(key)
  if (session === undefined) throw new Error(`model ${key} is not loaded in this worker`)
  const inputs: Record<string, ort.Tensor> = {}
  for (const [name, tensor] of Object.entries(feeds)) inputs[name] = ortTensor(tensor)
  const results = await session.run(inputs, fetches)
  const outputs: TensorMap = {}
  for (const [name, tensor] of Object.entries(results)) {
    if (!isTensorType(tensor.type)) throw new Error(`output '${name}' has type ${tensor.type}, which cannot be returned`)
    outputs[name] = { type: tensor.type, dims: [...tensor.dims], data: float16Bits(tensor.type, tensor.data as TensorArray) }
  }
  return outputs
}

async function handle (request: WorkerRequest): Promise<WorkerReply> {
  switch (request.op) {
    case 'load':
      return { id: request.id, ok: true, metadata: await load(request.key, request.path, request.threads) }
    case 'unload':
      await sessions.get(request.key)?.release()
      sessions.delete(request.key)
      return { id: request.id, ok: true }
    case 'run':
      return { id: request.id, ok: true, outputs: await run(request.key, request.feeds, request.fetches) }
    case 'close':
      await Promise.all([...sessions.values()].map(session => session.release()))
      sessions.clear()
      process.exit(0)
  }
}

// One message at a time, in order: a 'close' or an 'unload' must never
// release a session that a run queued before it is still using.
let previous: Promise<void> = Promise.resolve()

parentPort?.on('message', (request: WorkerRequest) => {
  previous = previous.then(() => handle(request)).then(
    reply => parentPort?.postMessage(reply, reply.ok ? transferList(reply.outputs) : []),
    (error: unknown) => parentPort?.postMessage({ id: request.id, ok: false, error: error instanceof Error ? error.message : String(error) })
  )
})
