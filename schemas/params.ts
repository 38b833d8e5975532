// The path parameters of the model routes, /v1 and /v2 alike.

import { Type } from '@sinclair/typebox'
import { MODEL_NAME_DESCRIPTION, MODEL_NAME_PATTERN, MODEL_VERSION_DESCRIPTION, MODEL_VERSION_PATTERN } from '../lib/models/names'

export const ModelName = Type.String({ pattern: MODEL_NAME_PATTERN, description: MODEL_NAME_DESCRIPTION })

export const ModelVersionString = Type.String({ pattern: MODEL_VERSION_PATTERN, description: MODEL_VERSION_DESCRIPTION, examples: ['1'] })

export const ModelParams = Type.Object({ name: ModelName })

export const ModelVersionParams = Type.Object({
  name: ModelName,
  version: ModelVersionString
})

/**
 * One schema for a path with or without a version: the docs list only the
 * parameters a path has (plugins/docs.ts).
 */
export const OptionalVersionParams = Type.Object({
  name: ModelName,
  version: Type.Optional(ModelVersionString)
})
