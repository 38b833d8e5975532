// Runs in a worker thread: onnxruntime-node creates sessions and runs them
// synchronously on the calling thread, so a model whose runs are long must
// not run on the main event loop (runtime/placement decides which). Each
// worker holds one session per model version placed in the workers.

import { parentPort, workerData } from 'node:worker_threads'
import { ModelRunError } from '../errors'
import { transferList, type TensorMap } from '../tensors/tensor'
import { OrtSession } from './ort-session'
import type { SessionMetadata, WorkerReply, WorkerRequest } from './worker-messages'

const sessions = new Map<string, OrtSession>()

// Set to 1 by the pool when it sets this worker aside (a run past its
// deadline): the runs queued behind that run are skipped, not computed for
// nobody, and the worker exits at its 'close'.
const setAside = (workerData as { setAside?: Int32Array } | null)?.setAside

function load (key: string, path: string, threads: number): SessionMetadata {
  const session = OrtSession.open(path, threads)
  sessions.get(key)?.release()
  sessions.set(key, session)
  return session.metadata
}

function run (key: string, feeds: TensorMap, fetches: string[]): { outputs: TensorMap, ms: number } {
  const session = sessions.get(key)
  if (session === undefined) throw new Error(`model ${key} is not loaded in this worker`)
  return session.run(feeds, fetches)
}

async function handle (request: WorkerRequest): Promise<WorkerReply> {
  if (setAside !== undefined && Atomics.load(setAside, 0) === 1 && request.op !== 'close') {
    return { id: request.id, ok: false, error: 'this inference worker was set aside' }
  }
  switch (request.op) {
    case 'load':
      return { id: request.id, ok: true, metadata: load(request.key, request.path, request.threads) }
    case 'unload':
      sessions.get(request.key)?.release()
      sessions.delete(request.key)
      return { id: request.id, ok: true }
    case 'run': {
      // Its callers gave up while it waited behind other runs: not computed for nobody.
      if (request.deadline !== undefined && Date.now() >= request.deadline) {
        return { id: request.id, ok: false, error: `the request's deadline passed ${Date.now() - request.deadline} ms before its run could start`, expired: true }
      }
      const { outputs, ms } = run(request.key, request.feeds, request.fetches)
      return { id: request.id, ok: true, outputs, ms }
    }
    case 'close':
      for (const session of sessions.values()) session.release()
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
    (error: unknown) => parentPort?.postMessage({ id: request.id, ok: false, error: error instanceof Error ? error.message : String(error), refused: error instanceof ModelRunError } satisfies WorkerReply)
  )
})
