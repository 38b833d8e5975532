// The model repository extension of the Open Inference Protocol (Triton's
// /v2/repository API): index, load, unload. Admin scope.

import { Type, type Static } from '@sinclair/typebox'
import { ModelStateSchema } from '../../../schemas/models'

export const RepositoryIndexBody = Type.Object({
  ready: Type.Optional(Type.Boolean({ description: 'true: only the model versions that are ready' }))
}, { additionalProperties: false, description: 'Optional; an empty body lists everything' })

export const RepositoryIndexRowSchema = Type.Object({
  name: Type.String(),
  version: Type.Optional(Type.String({ description: 'Absent for a model folder that holds no version', examples: ['1'] })),
  state: ModelStateSchema,
  reason: Type.String({ description: 'Why the version is not ready, with the fix; \'\' when ready', examples: ['unloaded'] })
})

export const RepositoryIndexReply = Type.Array(RepositoryIndexRowSchema, {
  description: 'One row per version of every model in the repository folder or known to the server'
})

// Triton's load takes parameters (a config override, model files) and its
// unload `unload_dependents`; neither applies here, so both are accepted
// only empty (load) or ignored (unload).
const Parameters = Type.Record(Type.String(), Type.Unknown(), { description: 'Triton\'s request parameters' })

export const LoadBody = Type.Object({
  parameters: Type.Optional(Parameters)
}, { additionalProperties: false, description: 'Optional; config overrides and file uploads are not supported' })

export const UnloadBody = Type.Object({
  parameters: Type.Optional(Parameters)
}, { additionalProperties: false, description: 'Optional; unload_dependents has no effect (no ensembles)' })

export const EmptyReply = Type.Object({}, { additionalProperties: false })

export type RepositoryIndexRow = Static<typeof RepositoryIndexRowSchema>
