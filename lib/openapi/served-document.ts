// The OpenAPI document as a caller who may learn the models sees it, made
// from the routes' document and the models served: the generic operations'
// examples from the default model (a static example answers 400 as soon as
// it is the user's own), its name and version in their path parameters, and
// each model's own operations with the error answers of the generic
// operation they stand for. Anonymous callers get the routes' document: the
// models' inputs are metadata, and every operation they could try needs a
// token, after which the docs page fetches this one.

import type { ModelCatalog } from '../data-plane/views'
import { defaultModelExamples, modelPaths, type DefaultModelExamples } from './model-paths'

type JsonObject = Record<string, unknown>
interface Operation extends JsonObject {
  parameters?: Array<{ name: string, in: string } & JsonObject>
  requestBody?: { content?: Record<string, JsonObject> } & JsonObject
  responses?: Record<string, unknown>
}
type Paths = Record<string, Record<string, Operation>>

/** The generic operations whose body is the default model's, and which example each takes. */
const BODY_EXAMPLES: Record<string, (examples: DefaultModelExamples) => unknown> = {
  '/predict': examples => examples.predict,
  '/v1/models/{name}:predict': examples => examples.v1,
  '/v1/models/{name}/predict': examples => examples.v1,
  '/v1/models/{name}/versions/{version}:predict': examples => examples.v1,
  '/v1/models/{name}/versions/{version}/predict': examples => examples.v1,
  '/v2/models/{name}/infer': examples => examples.v2,
  '/v2/models/{name}/versions/{version}/infer': examples => examples.v2
}

/** Model paths whose name parameter may show the default model's: the repository's load and unload are left blank. */
const MODEL_PATH = /^\/v[12]\/models\/\{name\}/

/** The generic operation a model's own path stands for: its error answers are the same. */
function genericOf (path: string): string | undefined {
  if (/^\/v1\/models\/[^/{]+:predict$/.test(path)) return '/v1/models/{name}:predict'
  if (/^\/v2\/models\/[^/{]+\/infer$/.test(path)) return '/v2/models/{name}/infer'
  return undefined
}

function withBodyExample (operation: Operation, example: unknown): Operation {
  const json = operation.requestBody?.content?.['application/json']
  if (json === undefined || example === undefined) return operation
  return { ...operation, requestBody: { ...operation.requestBody, content: { ...operation.requestBody?.content, 'application/json': { ...json, example } } } }
}

function withParameterExamples (operation: Operation, examples: DefaultModelExamples): Operation {
  if (operation.parameters === undefined) return operation
  const values: Record<string, string> = { name: examples.name, version: String(examples.version) }
  return {
    ...operation,
    parameters: operation.parameters.map(parameter => parameter.in === 'path' && values[parameter.name] !== undefined ? { ...parameter, example: values[parameter.name] } : parameter)
  }
}

/** `base` (the routes' document, not changed) with the served models, as described above. */
export function servedDocument<T extends { paths?: object }> (base: T, catalog: ModelCatalog): T {
  const examples = defaultModelExamples(catalog)
  const paths: Paths = { ...(base.paths as Paths | undefined) }
  for (const [path, operations] of Object.entries(paths)) {
    const body = BODY_EXAMPLES[path]
    if (examples === undefined || (body === undefined && !MODEL_PATH.test(path))) continue
    paths[path] = Object.fromEntries(Object.entries(operations).map(([method, operation]) =>
      [method, withParameterExamples(body === undefined ? operation : withBodyExample(operation, body(examples)), examples)]))
  }
  for (const [path, operations] of Object.entries(modelPaths(catalog))) {
    const generic = genericOf(path)
    paths[path] = Object.fromEntries(Object.entries(operations).map(([method, operation]) => {
      const responses = generic === undefined ? undefined : paths[generic]?.[method]?.responses
      return [method, { ...operation, responses: { ...responses, ...(operation.responses as JsonObject) } }]
    }))
  }
  return { ...base, paths }
}
