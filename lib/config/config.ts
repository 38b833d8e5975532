// The server's configuration, from the environment. Every variable is
// checked at start; a bad one stops the server with one line naming it.

import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { resolve } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import { EnvSchema, type Env } from './env'
import { resolveAuthKey, type AuthKey } from '../auth/auth-key'
import { cpuQuota } from './cpu-quota'
import { maxConnectionsFor, openFilesLimit } from './open-files'
import type { PlacementMode } from '../runtime/model-runtime'

export interface AppConfig {
  env: Env['NODE_ENV']
  port: number
  /** GRPC_PORT: 0 when gRPC is off. */
  grpcPort: number
  host: string
  logLevel: Env['LOG_LEVEL']
  modelRepository: string
  /** How the repository is followed after start: MODEL_CONTROL_MODE. */
  modelControlMode: Env['MODEL_CONTROL_MODE']
  /** REPOSITORY_POLL_SECS, in milliseconds. */
  repositoryPollMs: number
  defaultModel?: string
  bodyLimit: number
  workers: number
  inferenceThreads: number
  inferenceQueue: number
  inferenceTimeoutMs: number
  /** Where inference runs: INFERENCE_PLACEMENT. */
  inferencePlacement: PlacementMode
  /** Stuck inference threads at which liveness fails (readiness at one fewer). */
  inferenceStuckLimit: number
  /** INLINE_RUN_MAX_US, in milliseconds. */
  inlineRunMaxMs: number
  maxRows: number
  maxTensorElements: number
  shutdownDelayMs: number
  requestTimeoutMs: number
  maxEventLoopDelayMs: number
  keepAliveTimeoutMs: number
  maxConnectionsPerAddress: number
  maxConnections: number
  auth: AuthKey
  jwtIssuer?: string
  jwtAudience?: string
  jwtMaxAgeSeconds: number
  jwks: KeySetTimings
  rateLimitMax: number
  rateLimitWindowMs: number
  /** Counters kept in memory per table (token subjects; client addresses) when REDIS_URL is unset. */
  rateLimitKeys: number
  authFailureLimit: number
  /** GET /metrics needs a token with the `metrics` scope. */
  metricsAuth: boolean
  /** The docs document lists the models' own operations to anonymous callers too. */
  docsPublicModels: boolean
  /** The prediction cache and @fastify/caching's store (in memory unless REDIS_URL is set). */
  cache: { ttlMs: number, maxBytes: number, maxEntries: number }
  redisUrl?: string
  trustProxy: boolean | string[]
  corsOrigin?: string | string[]
  /** TLS_CERT_FILE and TLS_KEY_FILE, read: the server speaks HTTPS. */
  tls?: { cert: Buffer, key: Buffer }
  /** OpenTelemetry tracing: where traces go (OTLP/HTTP) and the service's name; absent, tracing is off. */
  tracing?: { url: string, serviceName: string }
}

/** How the JWKS key set is fetched and kept (lib/key-set.ts). */
export interface KeySetTimings {
  timeoutMs: number
  ttlMs: number
  maxStaleMs: number
  cooldownMs: number
}

export class ConfigError extends Error {}

/** The certificate and key files, both or neither; a file that cannot be read stops the server with its variable named. */
function readTls (certFile: string | undefined, keyFile: string | undefined): { cert: Buffer, key: Buffer } | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined
  if (certFile === undefined || keyFile === undefined) throw new ConfigError(`${certFile === undefined ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE'} is set without ${certFile === undefined ? 'TLS_CERT_FILE' : 'TLS_KEY_FILE'}; set both for HTTPS, or neither`)
  const read = (name: string, file: string): Buffer => {
    try {
      return readFileSync(file)
    } catch (error) {
      throw new ConfigError(`${name}=${file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
    }
  }
  return { cert: read('TLS_CERT_FILE', certFile), key: read('TLS_KEY_FILE', keyFile) }
}

/** Reads the variables of `EnvSchema` from `source`; throws ConfigError naming the first bad one. */
export function loadConfig (source: NodeJS.ProcessEnv = process.env): AppConfig {
  const names = Object.keys(EnvSchema.properties) as Array<keyof Env>
  const invalid = (name: string, accepts: string | undefined): never => {
    // A secret is never echoed, not even a too-short one: this line ends up in logs.
    const shown = name === 'JWT_SECRET' ? `(${source[name]?.length ?? 0} characters, not shown)` : JSON.stringify(source[name])
    throw new ConfigError(`${name}=${shown} is invalid; expected ${accepts}`)
  }
  // An empty variable counts as unset, as in most .env tooling.
  const raw = Object.fromEntries(names.filter(name => source[name] !== undefined && source[name] !== '').map(name => [name, source[name]]))
  // TypeBox converts integers with parseInt, which reads "1e4" as 1, "2.5" as
  // 2 and "true" as 1: only decimal digits may reach it.
  for (const name of names) {
    const schema = EnvSchema.properties[name]
    if (schema.type === 'integer' && name in raw && !/^\s*\d+\s*$/.test(raw[name] as string)) invalid(name, schema.description)
  }
  const env = Value.Convert(EnvSchema, Value.Default(EnvSchema, raw))
  const error = Value.Errors(EnvSchema, env).First()
  if (error !== undefined) {
    const name = error.path.slice(1)
    invalid(name, error.schema.description ?? EnvSchema.properties[name as keyof Env]?.description ?? error.message)
  }
  const valid = env as Env
  // What the patterns cannot say: each proxy entry is an address or CIDR range
  // (a hop count such as "2" would be read as the address 0.0.0.2), each CORS
  // entry an exact origin (@fastify/cors compares strings: "https://a.com/" never matches).
  const trustProxy = parseTrustProxy(valid.TRUST_PROXY) ?? invalid('TRUST_PROXY', EnvSchema.properties.TRUST_PROXY.description)
  const traces = tracesUrl(valid)
  const corsOrigin = valid.CORS_ORIGIN === undefined || valid.CORS_ORIGIN === '*' ? valid.CORS_ORIGIN : list(valid.CORS_ORIGIN)
  if (Array.isArray(corsOrigin) && !corsOrigin.every(isOrigin)) invalid('CORS_ORIGIN', EnvSchema.properties.CORS_ORIGIN.description)
  const tls = readTls(valid.TLS_CERT_FILE, valid.TLS_KEY_FILE)
  let auth: AuthKey
  try {
    auth = resolveAuthKey({ secret: valid.JWT_SECRET, publicKey: valid.JWT_PUBLIC_KEY, jwksUrl: valid.JWKS_URL, production: valid.NODE_ENV === 'production' })
  } catch (error) {
    throw new ConfigError((error as Error).message)
  }
  return {
    env: valid.NODE_ENV,
    port: valid.PORT,
    grpcPort: valid.GRPC_PORT,
    host: valid.HOST,
    logLevel: valid.LOG_LEVEL,
    modelRepository: resolve(valid.MODEL_REPOSITORY),
    modelControlMode: valid.MODEL_CONTROL_MODE,
    repositoryPollMs: valid.REPOSITORY_POLL_SECS * 1000,
    defaultModel: valid.DEFAULT_MODEL,
    bodyLimit: valid.BODY_LIMIT,
    workers: valid.WORKERS,
    inferenceThreads: valid.INFERENCE_THREADS ?? cpuQuota(),
    inferenceQueue: valid.INFERENCE_QUEUE,
    inferenceTimeoutMs: valid.INFERENCE_TIMEOUT_MS,
    inferencePlacement: valid.INFERENCE_PLACEMENT,
    inferenceStuckLimit: valid.INFERENCE_STUCK_LIMIT,
    inlineRunMaxMs: valid.INLINE_RUN_MAX_US / 1000,
    maxRows: valid.MAX_ROWS,
    maxTensorElements: valid.MAX_TENSOR_ELEMENTS,
    shutdownDelayMs: valid.SHUTDOWN_DELAY_MS,
    requestTimeoutMs: valid.REQUEST_TIMEOUT_MS,
    maxEventLoopDelayMs: valid.MAX_EVENT_LOOP_DELAY_MS,
    keepAliveTimeoutMs: valid.KEEP_ALIVE_TIMEOUT_MS,
    maxConnectionsPerAddress: valid.MAX_CONNECTIONS_PER_ADDRESS,
    maxConnections: valid.MAX_CONNECTIONS ?? maxConnectionsFor(openFilesLimit()),
    auth,
    jwtIssuer: valid.JWT_ISSUER,
    jwtAudience: valid.JWT_AUDIENCE,
    jwtMaxAgeSeconds: valid.JWT_MAX_AGE,
    jwks: {
      timeoutMs: valid.JWKS_TIMEOUT_MS,
      ttlMs: valid.JWKS_CACHE_TTL_MS,
      maxStaleMs: valid.JWKS_MAX_STALE_MS,
      cooldownMs: valid.JWKS_COOLDOWN_MS
    },
    rateLimitMax: valid.RATE_LIMIT_MAX,
    rateLimitWindowMs: valid.RATE_LIMIT_WINDOW,
    rateLimitKeys: valid.RATE_LIMIT_KEYS,
    authFailureLimit: valid.AUTH_FAILURE_LIMIT,
    metricsAuth: valid.METRICS_AUTH === 'true',
    docsPublicModels: valid.DOCS_PUBLIC_MODELS === 'true',
    cache: {
      ttlMs: valid.CACHE_TTL_MS,
      maxBytes: valid.CACHE_MAX_BYTES,
      maxEntries: valid.CACHE_MAX_ENTRIES
    },
    redisUrl: valid.REDIS_URL,
    trustProxy,
    corsOrigin,
    tls,
    tracing: traces === undefined ? undefined : { url: traces, serviceName: valid.OTEL_SERVICE_NAME }
  }
}

/** The signal's own endpoint as it is, else the base endpoint's /v1/traces (as OpenTelemetry's exporters read them). */
function tracesUrl (valid: Env): string | undefined {
  if (valid.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined) return valid.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
  const base = valid.OTEL_EXPORTER_OTLP_ENDPOINT
  return base === undefined ? undefined : `${base.replace(/\/+$/, '')}/v1/traces`
}

function list (value: string): string[] {
  return value.split(',').map(item => item.trim()).filter(item => item !== '')
}

// Fastify takes true or an address list; a bare hop count is refused by Fastify 5.12.
// undefined: not a list of addresses and CIDR ranges.
function parseTrustProxy (value: string | undefined): boolean | string[] | undefined {
  if (value === undefined || value === 'false') return false
  if (value === 'true') return true
  const entries = list(value)
  return entries.length > 0 && entries.every(isAddressOrRange) ? entries : undefined
}

function isAddressOrRange (entry: string): boolean {
  const [address, prefix, ...rest] = entry.split('/')
  const family = isIP(address)
  if (family === 0 || rest.length > 0) return false
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128))
}

function isOrigin (entry: string): boolean {
  try {
    return new URL(entry).origin === entry
  } catch {
    return false
  }
}
