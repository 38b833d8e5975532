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
  HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'an address to listen on (0.0.0.0 in containers)' }),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map(level => Type.Literal(level)), {
    default: 'info', description: 'one of fatal, error, warn, info, debug, trace, silent'
  }),
  MODEL_REPOSITORY: Type.String({ minLength: 1, default: './models', description: 'the model repository folder' }),
  DEFAULT_MODEL: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$', description: 'the name of a model in the repository' })),
  BODY_LIMIT: integer(1024, 1024 ** 3, 1024 * 1024, 'the largest request body in bytes'),
  WORKERS: integer(1, 64, 1, 'HTTP server processes (cluster mode)'),
  INFERENCE_THREADS: Type.Optional(integer(1, 256, undefined, 'inference worker threads (default: the CPU quota)')),
  INFERENCE_QUEUE: integer(1, 100000, 256, 'inference runs accepted at once before answering 503'),
  INFERENCE_TIMEOUT_MS: integer(1, 600000, 30000, 'milliseconds before an inference is answered 504'),
  MAX_ROWS: integer(1, 1000000, 1024, 'rows one request may carry'),
  MAX_TENSOR_ELEMENTS: integer(1, 100000000, 1000000, 'tensor elements one request may carry'),
  SHUTDOWN_DELAY_MS: integer(0, 600000, 0, 'milliseconds readiness reports 503 before the server stops accepting requests')
})

export type Env = Static<typeof EnvSchema>
