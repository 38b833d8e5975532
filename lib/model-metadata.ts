// What the HTTP APIs say about a model: plain objects in the shapes of
// schemas/models.ts, built from the model manager's state.

import type { ModelEntry, ModelVersion } from './model-manager'
import type { ModelMetadata, ModelSummary } from '../schemas/models'
import type { TensorSpec } from './tensor'

export function summarizeModel (entry: ModelEntry): ModelSummary {
  const served = [...entry.loaded.keys()].sort((a, b) => a - b)
  return {
    name: entry.name,
    state: entry.state,
    reason: entry.reason,
    versions: entry.versions,
    served_versions: served,
    default_version: served.at(-1),
    description: entry.config.description
  }
}

function tensorMetadata (spec: TensorSpec, model: ModelVersion): ModelMetadata['inputs'][number] {
  const names = model.dimNames[spec.name]
  return {
    name: spec.name,
    datatype: spec.type,
    shape: spec.shape,
    dim_names: names?.some(name => name !== null) ? names : undefined
  }
}

export function describeModel (entry: ModelEntry, model: ModelVersion): ModelMetadata {
  return {
    ...summarizeModel(entry),
    inputs: model.inputs.map(spec => tensorMetadata(spec, model)),
    outputs: model.outputs.map(spec => tensorMetadata(spec, model)),
    unserved_outputs: model.unservedOutputs,
    prediction_output: model.predictionOutput,
    labels: model.config.labels,
    config: model.config
  }
}
