// The OpenAPI paths of each served model, made from its own metadata: its
// /v1 predict and /v2 infer operations with request schemas and examples
// built from the model's input names, types and shapes (examples the model
// answers), and response schemas from its outputs. The docs plugin adds them
// to the document on every request for it, so loads and unloads show at once.

import type { ModelCatalog } from '../data-plane/views'
import { hasBatchDimension } from '../models/version'
import { elementCount, formatShape, isFloatType, tensorTypes, type TensorSpec, type TensorType } from '../tensors/tensor'

/** What of a served model version the operations are made of. */
interface DocumentedModel {
  name: string
  version: number
  inputs: TensorSpec[]
  outputs: TensorSpec[]
  /** Whether the first dimension is the batch (config.json's max_batch_size, or every input's first dimension dynamic). */
  batched: boolean
}

type JsonSchema = Record<string, unknown>
type Element = number | boolean | string

function elementSchema (type: TensorType): JsonSchema {
  if (type === 'bool') return { type: 'boolean' }
  if (type === 'string') return { type: 'string' }
  if (isFloatType(type)) return { type: 'number' }
  return { type: 'integer' }
}

function exampleElement (type: TensorType): Element {
  return type === 'bool' ? false : type === 'string' ? '' : 0
}

/** A shape an example can take: one row when batched, 1 for every other dynamic dimension. */
function exampleShape (spec: TensorSpec, batched: boolean): number[] {
  return spec.shape.map((dim, i) => batched && i === 0 ? 1 : dim >= 0 ? dim : 1)
}

/** Nested arrays of `shape` filled with `value`. */
function nested (shape: number[], value: Element): unknown {
  if (shape.length === 0) return value
  return Array.from({ length: shape[0] }, () => nested(shape.slice(1), value))
}

/** Nested arrays of a row's shape (rank = the shape's), as an array schema. */
function arraySchema (shape: number[], type: TensorType): JsonSchema {
  return shape.reduceRight<JsonSchema>((items, dim) => ({ type: 'array', items, ...(dim >= 0 ? { minItems: dim, maxItems: dim } : {}) }), elementSchema(type))
}

/** One of a model's operations: its tag, the bearer requirement, a JSON request body with its example, the 200. */
function operation (model: DocumentedModel, summary: string, request: { schema: JsonSchema, example: unknown }, ok: { description: string, schema: JsonSchema }): JsonSchema {
  return {
    summary,
    tags: [`model: ${model.name}`],
    security: [{ bearer: [] }],
    requestBody: { required: true, content: { 'application/json': request } },
    responses: { 200: { description: ok.description, content: { 'application/json': { schema: ok.schema } } } }
  }
}

/** One tensor of a v2 request or response, as this input or output of the model has it. */
function v2TensorSchema (spec: TensorSpec): JsonSchema {
  return {
    type: 'object',
    properties: {
      name: { const: spec.name },
      shape: { type: 'array', items: { type: 'integer' }, description: `model shape ${formatShape(spec.shape)} (-1: any)` },
      datatype: { const: tensorTypes[spec.type].datatype },
      data: { type: 'array', items: elementSchema(spec.type) }
    }
  }
}

/** A v2 infer body the model answers: one row of the example element per input. */
function v2Example (model: DocumentedModel): { id: string, inputs: unknown[] } {
  const inputs = model.inputs.map(spec => {
    const shape = exampleShape(spec, model.batched)
    return { name: spec.name, shape, datatype: tensorTypes[spec.type].datatype, data: Array(elementCount(shape)).fill(exampleElement(spec.type)) }
  })
  return { id: '1', inputs }
}

function v2Infer (model: DocumentedModel): JsonSchema {
  const requestSchema = {
    type: 'object',
    required: ['inputs'],
    properties: {
      id: { type: 'string' },
      inputs: {
        type: 'array',
        items: {
          oneOf: model.inputs.map(spec => ({ ...v2TensorSchema(spec), required: ['name', 'shape', 'datatype', 'data'] }))
        }
      },
      outputs: { type: 'array', items: { type: 'object', required: ['name'], properties: { name: { enum: model.outputs.map(output => output.name) } } } }
    }
  }
  const responseSchema = {
    type: 'object',
    properties: {
      model_name: { const: model.name },
      model_version: { type: 'string' },
      id: { type: 'string' },
      outputs: {
        type: 'array',
        items: {
          oneOf: model.outputs.map(v2TensorSchema)
        }
      }
    }
  }
  return operation(model, `Inference with ${model.name} (version ${model.version}, the newest served)`, { schema: requestSchema, example: v2Example(model) }, {
    description: `The outputs: ${model.outputs.map(output => `${output.name} (${tensorTypes[output.type].datatype} ${formatShape(output.shape)})`).join(', ')}`,
    schema: responseSchema
  })
}

/** Whether the model has rows (no scalar input): /v1 and /predict take it. */
function hasRows (model: DocumentedModel): boolean {
  return model.inputs.every(spec => spec.shape.length > 0)
}

/**
 * Rows framing: the first dimension is the rows, whatever the model says
 * (as many as it fixes, else one); several inputs make an object per row.
 */
function exampleRows (model: DocumentedModel): unknown[] {
  const exampleRow = (spec: TensorSpec): unknown => nested(exampleShape(spec, false).slice(1), exampleElement(spec.type))
  const row = model.inputs.length === 1 ? exampleRow(model.inputs[0]) : Object.fromEntries(model.inputs.map(spec => [spec.name, exampleRow(spec)]))
  return Array(Math.max(1, model.inputs[0].shape[0])).fill(row)
}

function v1Predict (model: DocumentedModel): JsonSchema {
  const rowShape = (spec: TensorSpec): number[] => spec.shape.slice(1)
  const rowSchema = model.inputs.length === 1
    ? arraySchema(rowShape(model.inputs[0]), model.inputs[0].type)
    : { type: 'object', required: model.inputs.map(spec => spec.name), properties: Object.fromEntries(model.inputs.map(spec => [spec.name, arraySchema(rowShape(spec), spec.type)])) }
  return operation(model, `Predict with ${model.name} (TF Serving / KServe V1 rows)`, {
    schema: { type: 'object', required: ['instances'], properties: { instances: { type: 'array', items: rowSchema } } },
    example: { instances: exampleRows(model) }
  }, {
    description: `One prediction per row: ${model.outputs.length === 1 ? `the value of ${model.outputs[0].name}` : `an object of ${model.outputs.map(output => output.name).join(', ')}`}`,
    schema: { type: 'object', properties: { predictions: { type: 'array' } } }
  })
}

/** The newest served version of every ready model, as its operations are made of. */
function documentedModels ({ entries }: ModelCatalog): DocumentedModel[] {
  return entries.filter(entry => entry.state === 'READY').flatMap(entry => {
    const model = entry.loaded.get(Math.max(...entry.loaded.keys()))
    return model === undefined ? [] : [{ name: model.name, version: model.version, inputs: model.inputs, outputs: model.outputs, batched: hasBatchDimension(model) }]
  })
}

/** The paths of each served model's own operations, to merge into the OpenAPI document's. */
export function modelPaths (catalog: ModelCatalog): Record<string, Record<string, JsonSchema>> {
  const paths: Record<string, Record<string, JsonSchema>> = {}
  for (const model of documentedModels(catalog)) {
    // A scalar input has no rows: such a model is served through /v2 only.
    if (hasRows(model)) paths[`/v1/models/${model.name}:predict`] = { post: v1Predict(model) }
    paths[`/v2/models/${model.name}/infer`] = { post: v2Infer(model) }
  }
  return paths
}

/** Request bodies the default model answers, for the generic operations' examples; its name and version for their path parameters. */
export interface DefaultModelExamples {
  name: string
  version: number
  /** `/predict` and /v1's bodies: absent for a model with a scalar input (no rows). */
  predict?: { input_data: unknown[] }
  v1?: { instances: unknown[] }
  v2: { id: string, inputs: unknown[] }
}

/**
 * The default model's examples: the generic operations' static ones (the
 * bundled iris's row) answer 400 as soon as the default model is another.
 * Undefined while the default model does not serve.
 */
export function defaultModelExamples (catalog: ModelCatalog): DefaultModelExamples | undefined {
  const model = documentedModels(catalog).find(candidate => candidate.name === catalog.defaultModel)
  if (model === undefined) return undefined
  const rows = hasRows(model) ? exampleRows(model) : undefined
  return {
    name: model.name,
    version: model.version,
    predict: rows === undefined ? undefined : { input_data: rows },
    v1: rows === undefined ? undefined : { instances: rows },
    v2: v2Example(model)
  }
}
