// What the data plane shows a protocol of the server and its models: each
// protocol turns these into its own wire shapes (a view), so the data plane
// never knows one protocol's shape from another's.

import type { ModelEntry } from '../models/registry'
import type { ModelVersion } from '../models/version'

export interface ServerInfo {
  name: string
  version: string
}

/** A model version that serves, and the model's entry (its state, versions, config). */
export interface ServedModel {
  entry: ModelEntry
  model: ModelVersion
  /** The version the request named, if it named one. */
  requestedVersion?: number
}

/** Every model the server knows, and the one `/predict` serves. */
export interface ModelCatalog {
  entries: ModelEntry[]
  defaultModel?: string
}

/** A model the request names: by name (the default model when absent) and version (the newest served when absent). */
export interface ModelRef {
  name?: string
  version?: number
}
