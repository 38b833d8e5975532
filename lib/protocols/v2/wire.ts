// The Open Inference Protocol's wire types (KServe v2, as Triton and MLServer
// speak it), declared once: the HTTP routes validate and serialize with them,
// the codecs use their Static types, and the docs show them.

import { Type, type Static, type TProperties } from '@sinclair/typebox'
import { ModelStateSchema } from '../../models/model-state'

const MAX_SAFE = Number.MAX_SAFE_INTEGER

/** Triton's parameters of a request, an input or an output: open, with the keys this server reads typed. */
function parameters<T extends TProperties> (known: T) {
  return Type.Optional(Type.Object(known, { description: 'an object' }))
}

export const InferInputSchema = Type.Object({
  name: Type.String({ description: 'the name of one of the model\'s inputs' }),
  shape: Type.Array(Type.Integer({ minimum: 0, maximum: MAX_SAFE, description: 'a non-negative integer' }), {
    description: 'the tensor\'s shape: an array of non-negative integers'
  }),
  datatype: Type.String({ description: 'a v2 datatype: BOOL, UINT8…UINT64, INT8…INT64, FP16, FP32, FP64 or BYTES' }),
  parameters: parameters({
    binary_data_size: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_SAFE, description: 'a non-negative integer (bytes)' }))
  }),
  data: Type.Optional(Type.Array(Type.Unknown(), { description: 'an array of the tensor\'s elements, flat (row-major) or nested as its shape' }))
}, { description: 'an object { name, shape, datatype, data }' })
export type InferInput = Static<typeof InferInputSchema>

export const RequestedOutputSchema = Type.Object({
  name: Type.String({ description: 'the name of one of the model\'s outputs' }),
  parameters: parameters({
    binary_data: Type.Optional(Type.Boolean({ description: 'a boolean' }))
  })
}, { description: 'an object { name, parameters }' })
export type RequestedOutputRequest = Static<typeof RequestedOutputSchema>

/**
 * An inference request's JSON: the whole body, or with the binary tensor
 * data extension its first Inference-Header-Content-Length bytes. Checked
 * by this schema first; what only the model can tell (names, datatypes,
 * shapes, element values) is checked against the model after.
 */
export const InferRequestSchema = Type.Object({
  // Echoed in the response.
  id: Type.Optional(Type.String({ description: 'a string' })),
  parameters: parameters({
    binary_data_output: Type.Optional(Type.Boolean({ description: 'a boolean' }))
  }),
  inputs: Type.Array(InferInputSchema, { description: 'an array of input tensors ({ name, shape, datatype, data })' }),
  // Every output when absent.
  outputs: Type.Optional(Type.Array(RequestedOutputSchema, { description: 'an array of requested outputs ({ name, parameters })' }))
}, {
  description: 'a JSON object with an inputs array',
  examples: [{ id: '1', inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] }]
})
export type InferRequest = Static<typeof InferRequestSchema>

export const InferResponseSchema = Type.Object({
  model_name: Type.String(),
  model_version: Type.String(),
  id: Type.Optional(Type.String()),
  outputs: Type.Array(Type.Object({
    name: Type.String(),
    datatype: Type.String(),
    shape: Type.Array(Type.Integer()),
    data: Type.Optional(Type.Array(Type.Unknown())),
    parameters: Type.Optional(Type.Object({ binary_data_size: Type.Integer() }))
  }))
}, { description: 'JSON, or with the binary tensor data extension a JSON header (Inference-Header-Content-Length bytes) followed by the binary outputs' })
export type InferResponse = Static<typeof InferResponseSchema>

export const ServerMetadataSchema = Type.Object({
  name: Type.String(),
  version: Type.String(),
  extensions: Type.Array(Type.String())
})
export type ServerMetadata = Static<typeof ServerMetadataSchema>

const TensorMetadataSchema = Type.Object({
  name: Type.String(),
  datatype: Type.String({ examples: ['FP32'] }),
  shape: Type.Array(Type.Integer(), { description: '-1 for a dynamic dimension' })
})

export const ModelMetadataSchema = Type.Object({
  name: Type.String(),
  versions: Type.Array(Type.String()),
  platform: Type.String(),
  inputs: Type.Array(TensorMetadataSchema),
  outputs: Type.Array(TensorMetadataSchema)
})
export type ModelMetadata = Static<typeof ModelMetadataSchema>

/** Triton's model configuration (GET …/config): open, as perf_analyzer and the clients read it. */
export const ModelConfigSchema = Type.Record(Type.String(), Type.Unknown())

export const ReadySchema = Type.Object({ name: Type.Optional(Type.String()), ready: Type.Boolean() })
export const LiveSchema = Type.Object({ live: Type.Boolean() })

// The model repository extension (Triton's /v2/repository): index, load, unload.

export const RepositoryIndexRequestSchema = Type.Object({
  ready: Type.Optional(Type.Boolean({ description: 'true: only the model versions that are ready' }))
}, { additionalProperties: false, description: 'Optional; an empty body lists everything' })

export const RepositoryIndexSchema = Type.Array(Type.Object({
  name: Type.String(),
  version: Type.Optional(Type.String({ description: 'Absent for a model folder that holds no version', examples: ['1'] })),
  state: ModelStateSchema,
  reason: Type.String({ description: 'Why the version is not ready, with the fix; \'\' when ready', examples: ['unloaded'] })
}), { description: 'One row per version of every model in the repository folder or known to the server' })

// Triton's load takes parameters (a config override, model files) and its
// unload `unload_dependents`; neither applies here, so both are accepted
// only empty (load) or ignored (unload).
const RepositoryParameters = Type.Record(Type.String(), Type.Unknown(), { description: 'Triton\'s request parameters' })

export const LoadRequestSchema = Type.Object({
  parameters: Type.Optional(RepositoryParameters)
}, { additionalProperties: false, description: 'Optional; config overrides and file uploads are not supported' })

export const UnloadRequestSchema = Type.Object({
  parameters: Type.Optional(RepositoryParameters)
}, { additionalProperties: false, description: 'Optional; unload_dependents has no effect (no ensembles)' })

export const EmptySchema = Type.Object({}, { additionalProperties: false })

/** The statistics extension's StatisticDuration: a count and the total of its durations in ns. */
const DurationSchema = Type.Object({ count: Type.Integer(), ns: Type.Integer() })

export const ModelStatisticsSchema = Type.Object({
  model_stats: Type.Array(Type.Object({
    name: Type.String(),
    version: Type.String(),
    last_inference: Type.Integer({ description: 'The last inference request, ms since the epoch (0: none yet)' }),
    inference_count: Type.Integer({ description: 'Rows inferred (a request of 8 rows counts 8); cache hits not included' }),
    execution_count: Type.Integer({ description: 'Runs of the model (a merged batch is one); cache hits not included' }),
    inference_stats: Type.Object({
      success: DurationSchema,
      fail: DurationSchema,
      queue: DurationSchema,
      compute_input: DurationSchema,
      compute_infer: DurationSchema,
      compute_output: DurationSchema,
      cache_hit: DurationSchema,
      cache_miss: DurationSchema
    }),
    batch_stats: Type.Array(Type.Object({
      batch_size: Type.Integer(),
      compute_input: DurationSchema,
      compute_infer: DurationSchema,
      compute_output: DurationSchema
    }))
  }))
}, { description: 'Per model version, since it was loaded; summed over the server processes with WORKERS > 1' })
export type ModelStatisticsResponse = Static<typeof ModelStatisticsSchema>
