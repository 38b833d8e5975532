// The models the bench serves: three ReLU MLPs generated here with fixed-seed
// weights (so every run and every machine serves the same bytes), and the
// bundled iris classifier. They go into a temporary model repository, one
// folder per model, never into models/.

import { cpSync, mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { modelPath, readModelSource } from '../../lib/models/repository'
import { OrtSession } from '../../lib/runtime/ort-session'
import { formatShape } from '../../lib/tensors/tensor'
import { mulberry32 } from '../../scripts/build-models'
import { ElemType, encodeModel, floatInitializer, node, tensorInput, tensorOutput } from '../../scripts/onnx-graph'

/** The bench's own models, and 'own': the user's (--repository, --model). */
export type ModelKey = 'small' | 'digits' | 'large' | 'iris' | 'own'

export interface BenchModel {
  key: ModelKey
  /** The name it is served under. */
  name: string
  input: string
  /** Floats in one row. */
  width: number
}

export const MODELS: Record<Exclude<ModelKey, 'own'>, BenchModel> = {
  small: { key: 'small', name: 'mlp-small', input: 'features', width: 64 },
  digits: { key: 'digits', name: 'mlp-digits', input: 'features', width: 64 },
  large: { key: 'large', name: 'mlp-large', input: 'features', width: 64 },
  iris: { key: 'iris', name: 'iris', input: 'features', width: 4 }
}

export interface MlpSpec {
  name: string
  /** Layer widths, input first: [64, 256, 256, 10]. */
  layers: number[]
  seed: number
}

export const MLP_SPECS: Record<'small' | 'digits' | 'large', MlpSpec> = {
  small: { name: MODELS.small.name, layers: [64, 256, 256, 10], seed: 1 },
  // The shape of scikit-learn's MLPClassifier (one hidden layer of 100) on the digits data.
  digits: { name: MODELS.digits.name, layers: [64, 100, 10], seed: 3 },
  large: { name: MODELS.large.name, layers: [64, 2048, 2048, 10], seed: 2 }
}

// What the issue asks the MLPs to be served with: batches merged up to 64 rows.
export const MLP_CONFIG = { max_batch_size: 64, dynamic_batching: { max_queue_delay_ms: 2 } }

/** A ReLU MLP as ONNX: MatMul + Add per layer, ReLU between layers, raw scores out. */
export function mlpOnnx (spec: MlpSpec): Uint8Array {
  const random = mulberry32(spec.seed)
  const initializers = []
  const nodes = []
  let previous = 'features'
  for (let layer = 1; layer < spec.layers.length; layer++) {
    const fanIn = spec.layers[layer - 1]
    const fanOut = spec.layers[layer]
    // He-uniform: activations keep their scale through the ReLUs, so outputs stay finite.
    const bound = Math.sqrt(6 / fanIn)
    const weights = new Float32Array(fanIn * fanOut).map(() => (random() * 2 - 1) * bound)
    const bias = new Float32Array(fanOut).map(() => (random() * 2 - 1) * 0.01)
    initializers.push(floatInitializer(`w${layer}`, [fanIn, fanOut], weights), floatInitializer(`b${layer}`, [fanOut], bias))
    const last = layer === spec.layers.length - 1
    nodes.push(node('MatMul', [previous, `w${layer}`], [`mm${layer}`]))
    nodes.push(node('Add', [`mm${layer}`, `b${layer}`], [last ? 'scores' : `pre${layer}`]))
    if (!last) nodes.push(node('Relu', [`pre${layer}`], [`h${layer}`]))
    previous = `h${layer}`
  }
  return encodeModel({
    graphName: spec.name,
    docString: `Benchmark MLP ${spec.layers.join('→')}, ReLU, He-uniform weights from seed ${spec.seed}; not trained.`,
    inputs: [tensorInput('features', ElemType.FLOAT, ['batch', spec.layers[0]])],
    outputs: [tensorOutput('scores', ElemType.FLOAT, ['batch', spec.layers[spec.layers.length - 1]])],
    initializers,
    nodes
  })
}

/** The user's model (--repository, --model): where it is, and what one of its rows is. */
export interface OwnModel extends BenchModel {
  key: 'own'
  repository: string
  /** Its newest version's model.onnx. */
  file: string
}

let own: OwnModel | undefined

/**
 * The user's model `name` in `repository`, newest served version: the bench sends
 * it rows of random floats, as the small model, so it must have one
 * float32 input of rows ([batch, N]).
 */
export async function readOwnModel (repository: string, name: string): Promise<OwnModel> {
  const root = resolve(repository)
  // The server's own reading of a model folder: its versions, and those its version_policy serves.
  const source = await readModelSource(root, name).catch(() => undefined)
  const newest = source?.served.at(-1)
  if (source === undefined || source.error !== undefined || newest === undefined) {
    throw new Error(`--model ${name}: ${join(root, name)} holds no <version>/model.onnx that serves${source?.error === undefined ? '' : ` (${source.error})`}`)
  }
  const file = modelPath(source, newest)
  const session = OrtSession.open(file, 1)
  session.release()
  const { metadata } = session
  const [input, ...others] = metadata.inputs
  if (others.length > 0 || input.type !== 'float32' || input.shape.length !== 2 || input.shape[1] < 1) {
    const inputs = metadata.inputs.map(spec => `${spec.name} ${spec.type} ${formatShape(spec.shape)}`).join(', ')
    throw new Error(`--model ${name}: the bench sends rows of floats to one float32 input of shape [batch, N]; its inputs are ${inputs}`)
  }
  return { key: 'own', name, input: input.name, width: input.shape[1], repository: root, file }
}

/** Makes the user's model the one the 'own' scenarios measure. */
export function useOwnModel (model: OwnModel): void {
  own = model
}

export function benchModel (key: ModelKey): BenchModel {
  if (key !== 'own') return MODELS[key]
  if (own === undefined) throw new Error('no model of yours was given: --repository DIR --model NAME')
  return own
}

/**
 * Writes one repository per model under `dir` (`dir/<key>/<name>/...`), so
 * each onnx-serve process loads only the model under test. Returns the
 * repository folder of each model.
 */
/** `cache`: the MLPs' config.json turns the prediction cache on (`--cache`). */
export function writeRepositories (dir: string, keys: ModelKey[], projectRoot: string, cache = false): Record<ModelKey, string> {
  const repositories = {} as Record<ModelKey, string>
  for (const key of keys) {
    if (key === 'own') {
      // The user's repository as it is: the bench reads it, never writes it.
      repositories.own = (benchModel('own') as OwnModel).repository
      continue
    }
    const repository = join(dir, key)
    const model = MODELS[key]
    if (key === 'iris') {
      cpSync(join(projectRoot, 'models', 'iris'), join(repository, model.name), { recursive: true })
    } else {
      mkdirSync(join(repository, model.name, '1'), { recursive: true })
      writeFileSync(join(repository, model.name, '1', 'model.onnx'), mlpOnnx(MLP_SPECS[key]))
      writeFileSync(join(repository, model.name, 'config.json'), JSON.stringify({
        description: `benchmark MLP ${MLP_SPECS[key].layers.join('→')}`,
        ...MLP_CONFIG,
        ...(cache ? { cache: true } : {})
      }, null, 2) + '\n')
    }
    repositories[key] = repository
  }
  return repositories
}

/** The model file of a repository written by writeRepositories (the user's: its newest version's). */
export function modelFile (repository: string, key: ModelKey): string {
  if (key === 'own') return (benchModel('own') as OwnModel).file
  return join(repository, MODELS[key].name, '1', 'model.onnx')
}
