// What /v1 says about the models (views of the data plane): the list, and a
// model's metadata with the status fields KServe V1 and TF Serving read.

import type { ModelCatalog, ServedModel } from '../../data-plane/views'
import { servedVersions, type ModelEntry } from '../../models/registry'
import type { ModelVersion } from '../../models/version'
import type { TensorSpec } from '../../tensors/tensor'
import type { ModelMetadata, ModelSummary } from './wire'

function summarizeModel (entry: ModelEntry): ModelSummary {
  const served = servedVersions(entry)
  return {
    name: entry.name,
    state: entry.state,
    reason: entry.reason,
    versions: [...entry.versions],
    served_versions: served,
    failed_versions: entry.failed === undefined || entry.failed.size === 0 ? undefined : Object.fromEntries([...entry.failed].map(([version, reason]) => [String(version), reason])),
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

/**
 * The model's metadata, with the status fields KServe V1 (`ready`) and TF
 * Serving (`model_version_status`) clients read; a version named in the
 * request narrows the status to it, as TF Serving does.
 */
export function modelMetadata ({ entry, model, requestedVersion }: ServedModel): ModelMetadata {
  const versions = requestedVersion === undefined ? servedVersions(entry) : [requestedVersion]
  return {
    ...summarizeModel(entry),
    inputs: model.inputs.map(spec => tensorMetadata(spec, model)),
    outputs: model.outputs.map(spec => tensorMetadata(spec, model)),
    unserved_outputs: model.unservedOutputs,
    prediction_output: model.predictionOutput,
    labels: model.config.labels,
    config: model.config,
    ready: entry.state === 'READY',
    model_version_status: [
      ...versions.map(version => ({ version: String(version), state: 'AVAILABLE' as const, status: { error_code: 'OK', error_message: '' } })),
      // As TF Serving reports a version that failed to load.
      ...requestedVersion === undefined
        ? [...entry.failed ?? []].map(([version, reason]) => ({ version: String(version), state: 'END' as const, status: { error_code: 'UNKNOWN', error_message: reason } }))
        : []
    ]
  }
}

/** GET /v1/models: every model and its state, and the default model. */
export function modelList ({ entries, defaultModel }: ModelCatalog): { default_model?: string, models: ModelSummary[] } {
  return { default_model: defaultModel, models: entries.map(summarizeModel) }
}
