import { Type, type Static } from '@sinclair/typebox'

// Each variable's description is what the error line says it accepts.
const integer = (min: number, max: number, fallback: number | undefined, what: string) =>
  Type.Integer({ minimum: min, maximum: max, default: fallback, description: `${what}: an integer from ${min} to ${max}` })

/** The environment the server reads at start; anything else is ignored. */
export const EnvSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], {
    default: 'development', description: 'one of development, production, test'
  }),
  PORT: integer(0, 65535, 3000, 'the TCP port'),
  GRPC_PORT: integer(0, 65535, 8001, 'the TCP port of the gRPC service (0: no gRPC)'),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'an address to listen on (0.0.0.0 in containers)' }),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map(level => Type.Literal(level)), {
    default: 'info', description: 'one of fatal, error, warn, info, debug, trace, silent'
  }),
  MODEL_REPOSITORY: Type.String({ minLength: 1, default: './models', description: 'the model repository folder' }),
  MODEL_CONTROL_MODE: Type.Union([Type.Literal('none'), Type.Literal('explicit'), Type.Literal('poll')], {
    default: 'explicit', description: 'one of none (the repository is read at start only), explicit (at start, and again through the admin load and unload), poll (followed every REPOSITORY_POLL_SECS)'
  }),
  REPOSITORY_POLL_SECS: integer(1, 3600, 15, 'seconds between scans of the model repository with MODEL_CONTROL_MODE=poll'),
  DEFAULT_MODEL: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$', description: 'the name of a model in the repository' })),
  BODY_LIMIT: integer(1024, 1024 ** 3, 1024 * 1024, 'the largest request body in bytes'),
  WORKERS: integer(1, 64, 1, 'HTTP server processes (cluster mode)'),
  INFERENCE_THREADS: Type.Optional(integer(1, 256, undefined, 'inference worker threads (default: the CPU quota)')),
  INFERENCE_QUEUE: integer(1, 100000, 256, 'inference runs accepted at once before answering 503'),
  INFERENCE_TIMEOUT_MS: integer(1, 600000, 30000, 'milliseconds before an inference is answered 504'),
  INFERENCE_PLACEMENT: Type.Union([Type.Literal('auto'), Type.Literal('inline'), Type.Literal('worker')], {
    default: 'auto', description: 'one of auto (each model where its measured runs are cheapest), inline (the main thread), worker (the worker threads)'
  }),
  INFERENCE_STUCK_LIMIT: integer(1, 64, 2, 'inference threads stuck in runs past INFERENCE_TIMEOUT_MS at which liveness fails (readiness fails at one fewer)'),
  INLINE_RUN_MAX_US: integer(1, 100000, 250, 'microseconds a model\'s average run may take on the main thread before it moves to the worker threads'),
  MAX_ROWS: integer(1, 1000000, 1024, 'rows one request may carry'),
  MAX_TENSOR_ELEMENTS: integer(1, 100000000, 1000000, 'tensor elements one request may carry'),
  SHUTDOWN_DELAY_MS: integer(0, 600000, 0, 'milliseconds readiness reports 503 before the server stops accepting requests'),
  REQUEST_TIMEOUT_MS: integer(1000, 600000, 30000, 'milliseconds a client may take to send a whole request (408 beyond)'),
  MAX_EVENT_LOOP_DELAY_MS: integer(0, 60000, 500, 'event-loop delay in milliseconds beyond which requests are shed with 503 (0: never)'),
  KEEP_ALIVE_TIMEOUT_MS: integer(100, 600000, 5000, 'milliseconds an idle keep-alive connection stays open'),
  MAX_CONNECTIONS_PER_ADDRESS: integer(0, 1000000, 256, 'open connections one client address may hold (0: no limit)'),
  MAX_CONNECTIONS: Type.Optional(integer(1, 10000000, undefined, 'open connections the process accepts at once (default: 80% of its open-file limit)')),

  JWT_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'an HS256 secret of at least 32 characters' })),
  JWT_PUBLIC_KEY: Type.Optional(Type.String({ minLength: 1, description: 'a PEM public key (RSA, EC or Ed25519); \\n escapes allowed' })),
  JWKS_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$', description: 'the http(s) URL of a JSON Web Key Set' })),
  JWT_ISSUER: Type.Optional(Type.String({ minLength: 1, description: 'the iss claim tokens must carry' })),
  JWT_AUDIENCE: Type.Optional(Type.String({ minLength: 1, description: 'the aud claim tokens must carry' })),
  JWT_MAX_AGE: integer(0, 31536000, 0, 'the longest token lifetime in seconds, from iat (0: no limit)'),
  JWKS_TIMEOUT_MS: integer(100, 60000, 5000, 'milliseconds one key-set fetch may take'),
  JWKS_CACHE_TTL_MS: integer(1000, 86400000, 600000, 'milliseconds fetched keys are used before they are fetched again'),
  JWKS_MAX_STALE_MS: integer(0, 604800000, 3600000, 'milliseconds keys keep serving past their TTL while the key server fails'),
  JWKS_COOLDOWN_MS: integer(0, 3600000, 30000, 'milliseconds between key-set fetches for unknown key ids'),

  RATE_LIMIT_MAX: integer(1, 10000000, 6000, 'requests one identity may make per window'),
  RATE_LIMIT_WINDOW: integer(1000, 86400000, 60000, 'the rate-limit window in milliseconds'),
  RATE_LIMIT_KEYS: integer(100, 10000000, 20000, 'identities counted in memory per window, token subjects and client addresses each (without REDIS_URL)'),
  AUTH_FAILURE_LIMIT: integer(1, 1000000, 20, 'failed authentications one IP address may make per window'),
  DOCS_PUBLIC_MODELS: Type.Union([Type.Literal('true'), Type.Literal('false')], {
    default: 'false', description: 'true (the docs document lists every model\'s operations to anyone) or false (only to a token with the predict scope)'
  }),
  METRICS_AUTH: Type.Union([Type.Literal('true'), Type.Literal('false')], {
    default: 'false', description: 'true (GET /metrics needs a token with the metrics scope) or false (public)'
  }),
  CACHE_TTL_MS: integer(1000, 86400000, 60000, 'milliseconds a cached prediction (and a metadata ETag) is kept'),
  CACHE_MAX_BYTES: integer(1024, 1024 ** 4, 64 * 1024 * 1024, 'bytes the in-memory cache holds'),
  CACHE_MAX_ENTRIES: integer(1, 10000000, 10000, 'entries the in-memory cache holds'),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://[^\\s]+$', description: 'a redis:// or rediss:// URL' })),
  TRUST_PROXY: Type.Optional(Type.String({ pattern: '^(true|false|[0-9A-Fa-f:.,/ ]+)$', description: 'true, false, or a comma-separated list of proxy addresses or CIDR ranges' })),
  TLS_CERT_FILE: Type.Optional(Type.String({ minLength: 1, description: 'a PEM certificate (chain) file: with TLS_KEY_FILE, the server speaks HTTPS' })),
  TLS_KEY_FILE: Type.Optional(Type.String({ minLength: 1, description: 'the PEM private key file of TLS_CERT_FILE' })),
  CORS_ORIGIN: Type.Optional(Type.String({ pattern: '^(\\*|https?://[^\\s,]+(\\s*,\\s*https?://[^\\s,]+)*)$', description: '* or a comma-separated list of http(s) origins' })),
  // OpenTelemetry's own variables: either endpoint turns tracing on (OTLP/HTTP).
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$', description: 'the http(s) base URL of an OTLP/HTTP receiver (traces go to <URL>/v1/traces)' })),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$', description: 'the http(s) URL traces are sent to, as it is' })),
  OTEL_SERVICE_NAME: Type.String({ minLength: 1, default: 'onnx-serve', description: 'the service name of the traces' })
})

export type Env = Static<typeof EnvSchema>
