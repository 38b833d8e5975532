// The server's configuration, from the environment. Every variable is
// checked at start; a bad one stops the server with one line naming it.

import { resolve } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import { EnvSchema, type Env } from '../schemas/config'
import { cpuQuota } from './cpu-quota'

export interface AppConfig {
  env: Env['NODE_ENV']
  port: number
  host: string
  logLevel: Env['LOG_LEVEL']
  modelRepository: string
  defaultModel?: string
  bodyLimit: number
  workers: number
  inferenceThreads: number
  inferenceQueue: number
  inferenceTimeoutMs: number
  maxRows: number
  maxTensorElements: number
  shutdownDelayMs: number
}

export class ConfigError extends Error {}

/** Reads the variables of `EnvSchema` from `source`; throws ConfigError naming the first bad one. */
export function loadConfig (source: NodeJS.ProcessEnv = process.env): AppConfig {
  const names = Object.keys(EnvSchema.properties) as Array<keyof Env>
  // An empty variable counts as unset, as in most .env tooling.
  const raw = Object.fromEntries(names.filter(name => source[name] !== undefined && source[name] !== '').map(name => [name, source[name]]))
  const env = Value.Convert(EnvSchema, Value.Default(EnvSchema, raw))
  const error = Value.Errors(EnvSchema, env).First()
  if (error !== undefined) {
    const name = error.path.slice(1)
    const accepts = error.schema.description ?? EnvSchema.properties[name as keyof Env]?.description ?? error.message
    throw new ConfigError(`${name}=${JSON.stringify(source[name])} is invalid; expected ${accepts}`)
  }
  const valid = env as Env
  return {
    env: valid.NODE_ENV,
    port: valid.PORT,
    host: valid.HOST,
    logLevel: valid.LOG_LEVEL,
    modelRepository: resolve(valid.MODEL_REPOSITORY),
    defaultModel: valid.DEFAULT_MODEL,
    bodyLimit: valid.BODY_LIMIT,
    workers: valid.WORKERS,
    inferenceThreads: valid.INFERENCE_THREADS ?? cpuQuota(),
    inferenceQueue: valid.INFERENCE_QUEUE,
    inferenceTimeoutMs: valid.INFERENCE_TIMEOUT_MS,
    maxRows: valid.MAX_ROWS,
    maxTensorElements: valid.MAX_TENSOR_ELEMENTS,
    shutdownDelayMs: valid.SHUTDOWN_DELAY_MS
  }
}
