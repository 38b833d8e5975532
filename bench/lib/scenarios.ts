// What is measured: the scenarios, the URL and body each target is sent, and
// the pools of random rows the load generator cycles through.

import type autocannon from 'autocannon'
import { mulberry32 } from '../../scripts/build-models'
import type { Generator } from './load'
import { benchModel, type BenchModel, type ModelKey } from './models'

/** The onnx-serve API a scenario goes through. */
export type Route = 'predict' | 'v1' | 'v2'
/** Who answers: onnx-serve and its three ceilings. */
export type Target = 'onnx-serve' | 'echo' | 'naive' | 'in-process'
/** A request body's shape: one of onnx-serve's routes, or the naive handler's. */
export type BodyKind = Route | 'naive'

export const TARGET_NAMES: Record<Target, string> = {
  'onnx-serve': 'onnx-serve',
  echo: 'Fastify echo',
  naive: 'naive handler',
  'in-process': 'in-process session.run'
}

/** A target's name in a scenario: the echo over gRPC is grpc-js's, not Fastify's. */
export function targetName (target: Target, generator: Generator): string {
  return target === 'echo' && generator === 'grpc' ? 'grpc-js echo' : TARGET_NAMES[target]
}

export interface Scenario {
  /** e.g. small-c10, iris-v2-c10. */
  id: string
  model: ModelKey
  connections: number
  route: Route
  /**
   * The load generator: the small, digits and own scenarios run under each
   * one asked for, the others under autocannon. grpc: onnx-serve is called
   * over gRPC (ModelInfer) and its ceilings over HTTP under autocannon (a
   * large-model scenario is added for it).
   */
  generator: Generator
}

export const SCENARIO_GROUPS = ['small', 'digits', 'large', 'iris', 'iris-predict', 'iris-v1', 'iris-v2', 'own'] as const
export type ScenarioGroup = typeof SCENARIO_GROUPS[number]

export const DEFAULT_SMALL_CONNECTIONS = [1, 10, 64]
export const LARGE_CONNECTIONS = 64
export const IRIS_CONNECTIONS = 10
/** Rows each load generator cycles through: enough that no two requests in flight share one. */
export const BODY_POOL_SIZE = 1024
/** The gRPC method a grpc scenario calls on onnx-serve, as the report names it. */
export const GRPC_METHOD = 'inference.GRPCInferenceService/ModelInfer'
/** gRPC calls in flight per HTTP/2 channel: c10 is one channel, c64 seven. */
export const GRPC_CALLS_PER_CHANNEL = 10
/** A gRPC call's deadline: past it, the call counts as a timeout (wrk's --timeout is 10 s too). */
export const GRPC_DEADLINE_MS = 10_000

/** The scenarios of the selected groups, in the order they run and print. */
export function scenariosFor (groups: ScenarioGroup[], smallConnections: number[] = DEFAULT_SMALL_CONNECTIONS, generators: Generator[] = ['autocannon']): Scenario[] {
  const selected = new Set<ScenarioGroup>(groups)
  const scenarios: Scenario[] = []
  for (const model of ['small', 'digits', 'own'] as const) {
    if (!selected.has(model)) continue
    for (const generator of generators) {
      for (const connections of smallConnections) {
        scenarios.push({ id: `${model}-c${connections}${generator === 'autocannon' ? '' : `-${generator}`}`, model, connections, route: 'predict', generator })
      }
    }
  }
  if (selected.has('large')) {
    scenarios.push({ id: `large-c${LARGE_CONNECTIONS}`, model: 'large', connections: LARGE_CONNECTIONS, route: 'predict', generator: 'autocannon' })
    // Beside its HTTP row, so the large model's gRPC/HTTP ratio is in the same run.
    if (generators.includes('grpc')) scenarios.push({ id: `large-c${LARGE_CONNECTIONS}-grpc`, model: 'large', connections: LARGE_CONNECTIONS, route: 'predict', generator: 'grpc' })
  }
  for (const route of ['predict', 'v1', 'v2'] as const) {
    if (selected.has('iris') || selected.has(`iris-${route}`)) {
      scenarios.push({ id: `iris-${route}-c${IRIS_CONNECTIONS}`, model: 'iris', connections: IRIS_CONNECTIONS, route, generator: 'autocannon' })
    }
  }
  return scenarios
}

export function describeScenario (scenario: Scenario): string {
  return `${benchModel(scenario.model).name} ${scenarioPath(scenario)} · ${scenario.connections} conn · ${scenario.generator}`
}

/** What onnx-serve is called on in a scenario: its route's path, or the gRPC method. */
export function scenarioPath (scenario: Scenario): string {
  return scenario.generator === 'grpc' ? GRPC_METHOD : routePath(scenario.route, benchModel(scenario.model))
}

/** The onnx-serve path of a route; the echo server answers on the same path. */
export function routePath (route: Route, model: BenchModel): string {
  switch (route) {
    case 'predict': return '/predict'
    case 'v1': return `/v1/models/${model.name}:predict`
    case 'v2': return `/v2/models/${model.name}/infer`
  }
}

/** Where a target's load goes: the gRPC port in a grpc scenario (each target serves ModelInfer there), the target's HTTP path otherwise. */
export function loadTarget (ports: { port: number, grpcPort: number }, target: Exclude<Target, 'in-process'>, scenario: Scenario): { url: string, kind: BodyKind, generator: Generator } {
  const { path, kind } = requestShape(target, scenario)
  if (scenario.generator === 'grpc') {
    if (ports.grpcPort === 0) throw new Error(`${scenario.id}: no gRPC port was set aside`)
    return { url: `grpc://127.0.0.1:${ports.grpcPort}`, kind, generator: 'grpc' }
  }
  return { url: `http://127.0.0.1:${ports.port}${path}`, kind, generator: scenario.generator }
}

/** The path and body shape each HTTP target gets in a scenario. */
export function requestShape (target: Exclude<Target, 'in-process'>, scenario: Scenario): { path: string, kind: BodyKind } {
  if (target === 'naive') return { path: '/predict', kind: 'naive' }
  // The echo parses and serializes exactly what onnx-serve is sent.
  return { path: routePath(scenario.route, benchModel(scenario.model)), kind: scenario.route }
}

export function requestBody (kind: BodyKind, model: BenchModel, row: number[]): unknown {
  switch (kind) {
    case 'predict': return { input_data: row }
    case 'v1': return { instances: [row] }
    case 'v2': return { inputs: [{ name: model.input, shape: [1, row.length], datatype: 'FP32', data: row }] }
    case 'naive': return { input_data: [row] }
  }
}

// Iris measurements (cm) span these ranges; rows drawn in them look like real flowers to the model.
const IRIS_RANGES: Array<[number, number]> = [[4.3, 7.9], [2.0, 4.4], [1.0, 6.9], [0.1, 2.5]]

/** `count` random rows for a model, the same for a given seed; values rounded as a client would send them. */
export function randomRows (model: BenchModel, count: number, seed: number): number[][] {
  const random = mulberry32(seed)
  return Array.from({ length: count }, () => model.key === 'iris'
    ? IRIS_RANGES.map(([low, high]) => Math.round((low + random() * (high - low)) * 10) / 10)
    : Array.from({ length: model.width }, () => Math.round((random() * 2 - 1) * 1e4) / 1e4))
}

/** Serialized bodies, one per random row: every target of a model is sent the same rows. */
export function bodyPool (kind: BodyKind, model: BenchModel, count: number, seed: number): string[] {
  return randomRows(model, count, seed).map(row => JSON.stringify(requestBody(kind, model, row)))
}

/**
 * One request whose body differs every time: a pooled row with its first
 * number replaced by a counter's (a string concatenation per request, no
 * JSON work while measuring).
 */
export function uniqueRows (bodies: string[], path: string): autocannon.Request {
  const parts = bodies.map(body => {
    const first = /-?\d+(\.\d+)?(e[+-]?\d+)?/.exec(body)
    if (first === null) throw new Error('a body without a number cannot be made unique')
    return [body.slice(0, first.index), body.slice(first.index + first[0].length)]
  })
  let sent = 0
  return {
    method: 'POST',
    path,
    setupRequest: request => {
      const [before, after] = parts[sent % parts.length]
      sent++
      return { ...request, body: `${before}${(sent * 1e-7).toFixed(7)}${after}` }
    }
  }
}
