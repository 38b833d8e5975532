import { Type, type Static } from '@sinclair/typebox'
import { ModelConfigSchema } from '../lib/models/model-config'

// Names become URL segments and folder names: no dot first, no separators.
/** A model name, as a JSON Schema pattern (lib/ tests folder names with it too). */
export const MODEL_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$'
/** A model version, as a JSON Schema pattern: a positive integer, which is also a version folder's name. */
export const MODEL_VERSION_PATTERN = '^[1-9][0-9]{0,8}$'

export const ModelName = Type.String({
  pattern: MODEL_NAME_PATTERN,
  description: 'a model name: up to 128 letters, digits, _ . or -, starting with a letter or digit'
})

export const ModelVersionString = Type.String({ pattern: MODEL_VERSION_PATTERN, description: 'a model version: a positive integer', examples: ['1'] })

export const ModelParams = Type.Object({ name: ModelName })

export const ModelVersionParams = Type.Object({
  name: ModelName,
  version: ModelVersionString
})

export const ModelStateSchema = Type.Union([Type.Literal('LOADING'), Type.Literal('READY'), Type.Literal('UNAVAILABLE'), Type.Literal('UNLOADING')])

export const TensorMetadata = Type.Object({
  name: Type.String(),
  datatype: Type.String({ description: 'Element type: float32, int64, bool, …', examples: ['float32'] }),
  shape: Type.Array(Type.Integer(), { description: '-1 marks a dynamic dimension; the first is the batch', examples: [[-1, 4]] }),
  dim_names: Type.Optional(Type.Array(Type.Union([Type.String(), Type.Null()]), { description: 'Symbolic names of dimensions, as the model gives them' }))
})

export const ModelSummarySchema = Type.Object({
  name: Type.String(),
  state: ModelStateSchema,
  reason: Type.Optional(Type.String({ description: 'Why the model does not serve, and the fix' })),
  versions: Type.Array(Type.Integer(), { description: 'Versions in the repository' }),
  served_versions: Type.Array(Type.Integer(), { description: 'Versions loaded and served' }),
  default_version: Type.Optional(Type.Integer({ description: 'The version a request without one gets: the newest served' })),
  description: Type.Optional(Type.String())
})

export const ModelList = Type.Object({
  default_model: Type.Optional(Type.String()),
  models: Type.Array(ModelSummarySchema)
})

export const ModelMetadataSchema = Type.Intersect([ModelSummarySchema, Type.Object({
  inputs: Type.Array(TensorMetadata),
  outputs: Type.Array(TensorMetadata),
  unserved_outputs: Type.Array(Type.Object({ name: Type.String(), reason: Type.String() }), {
    description: 'Outputs the model has but the server cannot return (sequences, maps)'
  }),
  prediction_output: Type.String({ description: 'The output /predict returns' }),
  labels: Type.Optional(Type.Array(Type.String())),
  config: ModelConfigSchema,
  ready: Type.Boolean({ description: 'KServe V1\'s model status: the model serves' }),
  model_version_status: Type.Array(Type.Object({
    version: Type.String(),
    state: Type.Union([Type.Literal('AVAILABLE'), Type.Literal('LOADING'), Type.Literal('UNLOADING')]),
    status: Type.Object({ error_code: Type.String(), error_message: Type.String() })
  }), { description: 'TF Serving\'s model status: one entry per version served (or the one asked for)' })
})])

export type ModelState = Static<typeof ModelStateSchema>
export type ModelSummary = Static<typeof ModelSummarySchema>
export type ModelMetadata = Static<typeof ModelMetadataSchema>
