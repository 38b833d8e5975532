// Warm-up as Triton does it: every loaded version runs its samples once per
// inference worker before it is ready, so the first client does not pay for
// the runtime's lazy allocations. The samples are config.json's `warmup`;
// without one, a model whose only dynamic dimension is the batch runs zeros
// with one row, and any other model is not warmed up: the size of an image,
// say, cannot be guessed (a 3×3 convolution refuses 1×1), and a wrong guess
// would keep a good model from serving.

import type { ModelRuntime } from '../runtime/model-runtime'
import type { ModelVersion } from './version'
import { elementCount, formatShape, tensorTypes, type TensorData, type TensorMap, type TensorSpec } from '../tensors/tensor'
import type { WarmupSample } from './model-config'

/** A warm-up input allocates this many elements at most: a typo in a shape must not exhaust memory. */
export const MAX_WARMUP_ELEMENTS = 2 ** 24

type Fill = WarmupSample['inputs'][string]['fill']

interface PlannedSample {
  /** Says which sample failed, in the reason. */
  label: string
  /** Why a failure of this sample is the configuration's fault, and what to do; '' for the default. */
  fix: string
  /** New tensors for each run: the pool moves them to the worker. */
  feeds: () => TensorMap
}

export interface WarmupPlan {
  /** Each runs once per inference worker, one sample after the other. */
  samples: PlannedSample[]
  /** Dynamic dimensions beyond the batch (`x[2] (height)`) that kept the model from the default warm-up. */
  unguessable: string[]
}

function filledTensor (spec: TensorSpec, dims: number[], fill?: Fill): TensorData {
  const info = tensorTypes[spec.type]
  const data = info.create(elementCount(dims))
  // toElement converts to the element type of this very array; the cast only says so.
  if (fill !== undefined) (data as unknown as { fill: (value: ReturnType<typeof info.toElement>) => void }).fill(info.toElement(fill))
  return { type: spec.type, dims, data }
}

/** Why `shape` cannot feed `spec` (a field and a message), or undefined when it can. */
function shapeProblem (spec: TensorSpec, shape: number[], model: ModelVersion): [string, string] | undefined {
  const like = `input '${spec.name}' of version ${model.version} (${formatShape(spec.shape)}, -1: any size)`
  if (shape.length !== spec.shape.length) {
    return ['shape', `expected ${spec.shape.length} dimensions like ${like}, received ${formatShape(shape)}`]
  }
  const fixed = spec.shape.findIndex((dim, i) => dim >= 0 && dim !== shape[i])
  if (fixed !== -1) return [`shape[${fixed}]`, `expected ${spec.shape[fixed]} like ${like}, received ${shape[fixed]}`]
  const maxBatchSize = model.config.max_batch_size ?? 0
  if (maxBatchSize > 0 && shape.length > 0 && shape[0] > maxBatchSize) {
    return ['shape[0]', `expected at most max_batch_size (${maxBatchSize}) rows, received ${shape[0]}`]
  }
  const elements = elementCount(shape)
  if (elements > MAX_WARMUP_ELEMENTS) {
    return ['shape', `${formatShape(shape)} is ${elements} elements; a warm-up input may have at most ${MAX_WARMUP_ELEMENTS}`]
  }
  return undefined
}

/** A sample of config.json checked against the model's inputs; throws the reason it does not fit. */
function configuredSample (sample: WarmupSample, index: number, model: ModelVersion): PlannedSample {
  const at = `warmup[${index}]`
  const inputNames = model.inputs.map(spec => spec.name)
  const unknown = Object.keys(sample.inputs).find(name => !inputNames.includes(name))
  if (unknown !== undefined) {
    throw new Error(`config.json: ${at}.inputs: version ${model.version} has no input '${unknown}'; its inputs: ${inputNames.join(', ')}`)
  }
  for (const spec of model.inputs) {
    const input = sample.inputs[spec.name]
    if (input === undefined) {
      throw new Error(`config.json: ${at}.inputs: missing '${spec.name}' (${formatShape(spec.shape)}); a warm-up sample gives every input of the model a shape`)
    }
    const problem = shapeProblem(spec, input.shape, model)
    if (problem !== undefined) throw new Error(`config.json: ${at}.inputs.${spec.name}.${problem[0]}: ${problem[1]}`)
    const fillProblem = input.fill === undefined ? undefined : tensorTypes[spec.type].check(input.fill)
    if (fillProblem !== undefined) {
      throw new Error(`config.json: ${at}.inputs.${spec.name}.fill: expected ${fillProblem} for input '${spec.name}' of type ${spec.type}, received ${JSON.stringify(input.fill)}`)
    }
  }
  return {
    label: `the warm-up sample ${at}${sample.name === undefined ? '' : ` '${sample.name}'`}`,
    fix: `; give config.json's ${at} shapes and fill values that the model accepts, or remove it`,
    feeds: () => Object.fromEntries(model.inputs.map(spec => [spec.name, filledTensor(spec, sample.inputs[spec.name].shape, sample.inputs[spec.name].fill)]))
  }
}

/** Dynamic dimensions past the first (the batch) of the model's inputs, named as people read them. */
function unguessableDimensions (model: ModelVersion): string[] {
  return model.inputs.flatMap(spec => spec.shape.flatMap((dim, i) => {
    if (i === 0 || dim >= 0) return []
    const name = model.dimNames[spec.name]?.[i]
    return [`${spec.name}[${i}]${name === null || name === undefined ? '' : ` (${name})`}`]
  }))
}

/** What warms `model` up; throws the reason when config.json's samples do not fit it. */
export function planWarmup (model: ModelVersion): WarmupPlan {
  const configured = model.config.warmup
  if (configured !== undefined) return { samples: configured.map((sample, i) => configuredSample(sample, i, model)), unguessable: [] }
  const unguessable = unguessableDimensions(model)
  if (unguessable.length > 0) return { samples: [], unguessable }
  return {
    samples: [{
      label: 'the warm-up run',
      fix: '',
      feeds: () => Object.fromEntries(model.inputs.map(spec => [spec.name, filledTensor(spec, spec.shape.map(dim => dim < 0 ? 1 : dim))]))
    }],
    unguessable: []
  }
}

/** Runs each sample of `plan` once on each of the version's sessions; throws the reason of the first that fails, with the fix. */
export async function warmUp (runtime: ModelRuntime, model: ModelVersion, plan: WarmupPlan): Promise<void> {
  const fetches = model.outputs.map(output => output.name)
  for (const sample of plan.samples) {
    try {
      await runtime.warm(model.key, sample.feeds, fetches)
    } catch (error) {
      const failure = (error as Error).message.trim().replace(/\.+$/, '')
      throw new Error(`version ${model.version}: ${sample.label} failed: ${failure}${sample.fix}`)
    }
  }
}
