// What a protocol gives the data plane to run an inference, and what the data
// plane tells the transport back. A codec turns one protocol's request into
// tensors checked against the model (a plan), and the outputs into that
// protocol's answer; the data plane does everything in between, the same for
// every protocol and transport.

import type { CacheOutcome } from '../cache/prediction-cache'
import type { ModelVersion } from '../models/version'
import type { TensorMap } from '../tensors/tensor'

export interface InferenceLimits {
  /** Rows (the batch dimension) one request may carry, whatever the model allows (MAX_ROWS). */
  maxRows: number
  /** Tensor elements one request may carry across its inputs (MAX_TENSOR_ELEMENTS). */
  maxElements: number
}

/** What the request's log line and the metrics know of an inference that was answered. */
export interface InferenceRecord {
  model: string
  version: number
  rows: number
  /** Time spent in the batcher and the pool, queueing included (or in the cache). */
  inferenceMs: number
  /** For models with the prediction cache on: whether this answer came from it. */
  cache?: CacheOutcome
}

/** The facts of one request that the data plane fills in as it serves it, for the transport's logs and metrics. */
export interface RequestFacts {
  /** The request's id (x-request-id), for the spans of its inference. */
  requestId?: string
  /** With tracing on: the request's span, for its log line. */
  trace?: { traceId: string, spanId: string }
  inference?: InferenceRecord
  /**
   * Date.now() time after which the caller no longer waits (a gRPC
   * deadline): past it the inference is refused before it reaches the
   * batcher, and dropped unrun from the batcher's queue or a worker's.
   */
  deadline?: number
}

/** One request, decoded and checked against its model. */
export interface InferencePlan<Reply> {
  feeds: TensorMap
  /** The outputs to fetch; every output when absent. */
  fetches?: string[]
  /** The request field the rows came in, for messages: `input_data`, `instances`, `inputs`. */
  field: string
  /** The framing sends rows, so the first dimension is the batch whatever the model says. */
  rows: boolean
  /** The protocol's answer from the outputs fetched. */
  reply: (outputs: TensorMap, record: InferenceRecord) => Reply
}

/** A protocol's request (`Payload`) for `model`, as a plan whose answer is a `Reply`. */
export type InferCodec<Payload, Reply> = (payload: Payload, model: ModelVersion, limits: InferenceLimits) => InferencePlan<Reply>
