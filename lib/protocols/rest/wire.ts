// The REST protocol's wire types: the classic `/predict`, the TF Serving and
// KServe V1 predict bodies, and the model list and metadata of /v1. Routes
// validate and serialize with them; the codecs use their Static types.

import { Type, type Static } from '@sinclair/typebox'
import { ModelConfigSchema } from '../../models/model-config'
import { ModelStateSchema } from '../../models/model-state'

export const PredictBody = Type.Object({
  input_data: Type.Unknown({
    description: 'One row, or an array of rows, of the default model\'s input (an object keyed by input name for several inputs)',
    examples: [[5.1, 3.5, 1.4, 0.2], [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]]
  })
}, { additionalProperties: false })
export type PredictRequest = Static<typeof PredictBody>

export const PredictReply = Type.Object({
  prediction: Type.Array(Type.Unknown(), { description: 'One prediction per row; class names where the model has labels', examples: [['setosa']] })
})
export type PredictResponse = Static<typeof PredictReply>

export const TfServingBody = Type.Object({
  instances: Type.Optional(Type.Array(Type.Unknown(), {
    description: 'Rows: each the input\'s value, or an object keyed by input name',
    examples: [[[5.1, 3.5, 1.4, 0.2]]]
  })),
  inputs: Type.Optional(Type.Unknown({
    description: 'Columns instead of rows: the input\'s whole batch, or an object keyed by input name',
    examples: [[[5.1, 3.5, 1.4, 0.2]]]
  })),
  signature_name: Type.Optional(Type.String({ description: 'TF Serving\'s signature; an ONNX model has one: serving_default' }))
}, { additionalProperties: false })
export type TfServingRequest = Static<typeof TfServingBody>

export const TfServingReply = Type.Object({
  predictions: Type.Optional(Type.Array(Type.Unknown(), {
    description: 'For instances, one per row: the output\'s value, or an object keyed by output name when the model has several'
  })),
  outputs: Type.Optional(Type.Unknown({ description: 'For inputs: the output\'s whole batch, or an object keyed by output name' }))
})
export type TfServingResponse = Static<typeof TfServingReply>

export const TensorMetadata = Type.Object({
  name: Type.String(),
  datatype: Type.String({ description: 'Element type: float32, int64, bool, …', examples: ['float32'] }),
  shape: Type.Array(Type.Integer(), { description: '-1 marks a dynamic dimension; the first is the batch', examples: [[-1, 4]] }),
  dim_names: Type.Optional(Type.Array(Type.Union([Type.String(), Type.Null()]), { description: 'Symbolic names of dimensions, as the model gives them' }))
})

export const ModelSummarySchema = Type.Object({
  name: Type.String(),
  state: ModelStateSchema,
  reason: Type.Optional(Type.String({ description: 'Why the model does not serve, and the fix (for a model that serves: why its last load failed)' })),
  versions: Type.Array(Type.Integer(), { description: 'Versions in the repository' }),
  served_versions: Type.Array(Type.Integer(), { description: 'Versions loaded and served' }),
  failed_versions: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'Versions the last load tried and could not load, each with why' })),
  default_version: Type.Optional(Type.Integer({ description: 'The version a request without one gets: the newest served' })),
  description: Type.Optional(Type.String())
})
export type ModelSummary = Static<typeof ModelSummarySchema>

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
    state: Type.Union([Type.Literal('AVAILABLE'), Type.Literal('LOADING'), Type.Literal('UNLOADING'), Type.Literal('END')]),
    status: Type.Object({ error_code: Type.String(), error_message: Type.String() })
  }), { description: 'TF Serving\'s model status: one entry per version served (or the one asked for), and END with the error for each version that could not load' })
})])
export type ModelMetadata = Static<typeof ModelMetadataSchema>
