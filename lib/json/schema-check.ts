// A TypeBox schema as a compiled check of a parsed JSON body, for the bodies
// that Fastify's validation cannot see (the v2 infer body arrives raw, its
// JSON part followed by binary tensors). The first problem becomes an
// InputError that names the field in the protocol's own notation
// (`inputs[0].shape[1]`), what the schema expects and what was received.

import type { Static, TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors'
import { InputError } from '../errors'
import { describeValue } from './values'

/** `/inputs/0/shape` → `inputs[0].shape`; the root is `body`. */
export function fieldOf (path: string): string {
  const segments = path.split('/').slice(1).map(segment => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
  if (segments.length === 0) return 'body'
  return segments.reduce((field, segment) => /^\d+$/.test(segment) ? `${field}[${segment}]` : field === '' ? segment : `${field}.${segment}`, '')
}

/** What a schema expects, in words: its description, else its JSON type. */
function expected (schema: TSchema): string {
  if (typeof schema.description === 'string') return schema.description
  switch (schema.type) {
    case 'integer': return schema.minimum === 0 ? 'a non-negative integer' : 'an integer'
    case 'array': return 'an array'
    case 'object': return 'an object'
    default: return typeof schema.type === 'string' ? `a ${schema.type}` : 'a valid value'
  }
}

function message (error: ValueError): string {
  const field = fieldOf(error.path)
  if (error.type === ValueErrorType.ObjectRequiredProperty) return `${field}: missing; expected ${expected(error.schema)}`
  return `${field}: expected ${expected(error.schema)}, received ${describeValue(error.value)}`
}

/** A check of `schema`: the value typed as its Static, or an InputError for the first problem. */
export function schemaCheck<T extends TSchema> (schema: T): (value: unknown) => Static<T> {
  const compiled = TypeCompiler.Compile(schema)
  return (value) => {
    if (compiled.Check(value)) return value
    const error = compiled.Errors(value).First()
    /* c8 ignore next */
    if (error === undefined) throw new InputError('body', 'body: does not match the request schema')
    throw new InputError(fieldOf(error.path), message(error))
  }
}
