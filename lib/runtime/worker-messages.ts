// Messages between the pool (main thread) and its inference workers.

import type { TensorMap, TensorSpec } from '../tensors/tensor'

export interface SessionMetadata {
  inputs: TensorSpec[]
  /** Tensor outputs, the ones that can be fetched. */
  outputs: TensorSpec[]
  /** Names of outputs that are not tensors (sequences, maps), which we cannot return. */
  nonTensorOutputs: string[]
  /** Symbolic dimension names, by input or output name, where the model gives them. */
  dimNames: Record<string, Array<string | null>>
}

export type WorkerRequest =
  | { id: number, op: 'load', key: string, path: string, threads: number }
  | { id: number, op: 'unload', key: string }
  /** `deadline` (Date.now() time): not begun by then, the run is dropped (answered `expired`). */
  | { id: number, op: 'run', key: string, feeds: TensorMap, fetches: string[], deadline?: number }
  /** Release every session and exit, after the messages already queued. */
  | { id: number, op: 'close' }

export type WorkerReply =
  /** `ms`: how long a run took in the worker. */
  | { id: number, ok: true, metadata?: SessionMetadata, outputs?: TensorMap, ms?: number }
  /** `refused`: the model refused the request's values (a ModelRunError, a 400); `expired`: dropped at its deadline. */
  | { id: number, ok: false, error: string, refused?: boolean, expired?: boolean }
