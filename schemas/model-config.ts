import { Type, type Static } from '@sinclair/typebox'

/** `models/<name>/config.json`: everything optional, unknown keys refused. */
export const ModelConfigSchema = Type.Object({
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  labels: Type.Optional(Type.Array(Type.String(), { description: 'Class names, indexed by the value of an integer prediction output' })),
  max_batch_size: Type.Optional(Type.Integer({ minimum: 0, maximum: 65536, description: 'Rows one request or batch may hold; 0 never merges requests' })),
  dynamic_batching: Type.Optional(Type.Object({
    max_queue_delay_ms: Type.Optional(Type.Number({ minimum: 0, maximum: 1000 })),
    preferred_batch_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 65536 }))
  }, { additionalProperties: false })),
  cache: Type.Optional(Type.Boolean()),
  version_policy: Type.Optional(Type.Union([
    Type.Literal('latest'),
    Type.Literal('all'),
    Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1 })
  ])),
  prediction_output: Type.Optional(Type.String({ description: 'The output /predict returns; default the first' }))
}, { additionalProperties: false, $id: 'ModelConfig' })

export type ModelConfig = Static<typeof ModelConfigSchema>
