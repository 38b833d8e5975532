// A model's states, as Triton's repository index names them; the schema is
// what the /v1 model list and the /v2 repository index declare.

import { Type, type Static } from '@sinclair/typebox'

export const MODEL_STATES = ['LOADING', 'READY', 'UNAVAILABLE', 'UNLOADING'] as const

export const ModelStateSchema = Type.Union(MODEL_STATES.map(state => Type.Literal(state)))

export type ModelState = Static<typeof ModelStateSchema>
