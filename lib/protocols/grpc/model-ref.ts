// The model a gRPC request names: its name and version fields, checked with
// the patterns of HTTP's path parameters (lib/models/names) and refused in
// the same words.

import { InputError } from '../../errors'
import type { ModelRef } from '../../data-plane/views'
import { describeValue } from '../../json/values'
import { MODEL_NAME_DESCRIPTION, MODEL_NAME_PATTERN, MODEL_VERSION_DESCRIPTION, MODEL_VERSION_PATTERN } from '../../models/names'

const NAME = new RegExp(MODEL_NAME_PATTERN)
const VERSION = new RegExp(MODEL_VERSION_PATTERN)

/** A model name field: required, a model name. */
export function modelNameOf (name: string | undefined, field: string): string {
  if (name === undefined || name === '') throw new InputError(field, `${field}: is required; expected ${MODEL_NAME_DESCRIPTION}`)
  if (!NAME.test(name)) throw new InputError(field, `${field}: expected ${MODEL_NAME_DESCRIPTION}, received ${describeValue(name)}`)
  return name
}

/** A model and version (empty: the newest served) as a request names them; `fields`: the message's field names. */
export function modelRefOf (name: string | undefined, version: string | undefined, fields = { name: 'name', version: 'version' }): ModelRef {
  const ref: ModelRef = { name: modelNameOf(name, fields.name) }
  if (version === undefined || version === '') return ref
  if (!VERSION.test(version)) throw new InputError(fields.version, `${fields.version}: expected ${MODEL_VERSION_DESCRIPTION}, received ${describeValue(version)}`)
  return { ...ref, version: Number(version) }
}
