import { Type } from '@sinclair/typebox'

export const PredictBody = Type.Object({
  input_data: Type.Unknown({
    description: 'One row, or an array of rows, of the default model\'s input (an object keyed by input name for several inputs)',
    examples: [[5.1, 3.5, 1.4, 0.2], [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]]
  })
}, { additionalProperties: false })

export const PredictReply = Type.Object({
  prediction: Type.Array(Type.Unknown(), { description: 'One prediction per row; class names where the model has labels', examples: [['setosa']] })
})

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

export const TfServingReply = Type.Object({
  predictions: Type.Optional(Type.Array(Type.Unknown(), {
    description: 'For instances, one per row: the output\'s value, or an object keyed by output name when the model has several'
  })),
  outputs: Type.Optional(Type.Unknown({ description: 'For inputs: the output\'s whole batch, or an object keyed by output name' }))
})
