import { Type, type Static } from '@sinclair/typebox'

/** One input of a warm-up sample: its whole shape and the value of every element. */
const WarmupInputSchema = Type.Object({
  shape: Type.Array(Type.Integer({ minimum: 1 }), {
    maxItems: 32,
    description: 'The tensor\'s shape, batch dimension included: [1, 3, 224, 224]'
  }),
  fill: Type.Optional(Type.Union([Type.Number(), Type.Boolean(), Type.String()], {
    description: 'The value of every element, of the input\'s type; default 0 (false, \'\')'
  }))
}, { additionalProperties: false })

/**
 * Triton's model_warmup, reduced to what a JSON file says plainly: each
 * sample gives every input of the model a shape (and a fill value) and runs
 * once per inference worker before the model is ready.
 */
const WarmupSampleSchema = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 128, description: 'Named in the reason when the sample fails' })),
  inputs: Type.Record(Type.String(), WarmupInputSchema, { description: 'Every input of the model, by name' })
}, { additionalProperties: false })

/** `models/<name>/config.json`: everything optional, unknown keys refused. */
export const ModelConfigSchema = Type.Object({
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  labels: Type.Optional(Type.Array(Type.String(), { description: 'Class names, indexed by the value of an integer prediction output' })),
  max_batch_size: Type.Optional(Type.Integer({ minimum: 0, maximum: 65536, description: 'Rows one request or batch may hold; 0 never merges requests' })),
  dynamic_batching: Type.Optional(Type.Object({
    max_queue_delay_ms: Type.Optional(Type.Number({ minimum: 0, maximum: 1000 })),
    preferred_batch_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 65536 }))
  }, { additionalProperties: false })),
  version_policy: Type.Optional(Type.Union([
    Type.Literal('latest'),
    Type.Literal('all'),
    Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1 }),
    // Triton's latest { num_versions }: the newest n.
    Type.Object({ latest: Type.Integer({ minimum: 1, maximum: 1000 }) }, { additionalProperties: false })
  ])),
  cache: Type.Optional(Type.Boolean({
    description: 'Serve identical requests from the prediction cache (as Triton\'s response_cache): only for deterministic models'
  })),
  prediction_output: Type.Optional(Type.String({ description: 'The output /predict returns; default the first' })),
  placement: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('inline'), Type.Literal('worker')], {
    description: 'Where its runs go: auto (measured), inline (the main thread) or worker (the worker threads); default INFERENCE_PLACEMENT'
  })),
  warmup: Type.Optional(Type.Array(WarmupSampleSchema, {
    maxItems: 16,
    description: 'Samples run before the model is ready; [] runs none. Without it, a model whose only dynamic dimension is the batch runs zeros with one row, and any other model is not warmed up'
  }))
}, { additionalProperties: false, $id: 'ModelConfig' })

export type ModelConfig = Static<typeof ModelConfigSchema>
export type WarmupSample = Static<typeof WarmupSampleSchema>
