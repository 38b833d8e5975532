// Entry point: read the configuration, listen, and shut down gracefully.
// With WORKERS > 1 the primary process forks that many servers sharing the port.

import cluster from 'node:cluster'
import { existsSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import { destination, pino } from 'pino'
import app from './app'
import { serverOptions } from './http/server-options'
import { runPrimary } from './lib/cluster/primary'
import { evictionWarning } from './lib/quota/eviction-warning'
import { QuotaTables } from './lib/quota/window-counters'
import { aggregateForWorkers } from './lib/metrics/cluster-metrics'
import { relayGathers } from './lib/cluster/gather'
import { LineBatch } from './lib/logs/line-batch'
import { ConfigError, loadConfig, type AppConfig } from './lib/config/config'

function readConfig (): AppConfig {
  if (existsSync('.env')) process.loadEnvFile('.env')
  try {
    return loadConfig()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`onnx-serve: ${error.message}\n`)
    process.exit(1)
  }
}

// Characters, not bytes: what LineBatch counts (a log line is nearly all ASCII).
const LOG_BATCH_CHARS = 4 * 1024

async function serve (config: AppConfig): Promise<void> {
  // Log lines are gathered (lib/logs/line-batch) and written synchronously,
  // a dozen lines per write: a write per line cost 9% of a prediction's CPU;
  // asynchronous writes (libuv's thread pool, on the same core) cost 3.5 µs a
  // line against 1.6 for sonic-boom's own buffer, and 0.3 gathered first
  // (measured alone, server pinned to one core). At most LOG_BATCH_CHARS or
  // one second wait; whatever is still gathered at exit is flushed.
  const logs = new LineBatch(destination({ sync: true }), LOG_BATCH_CHARS)
  setInterval(() => logs.flush(), 1000).unref()
  process.on('exit', () => logs.flushSync())
  const fastify = Fastify(serverOptions(config, logs))
  await fastify.register(app, { config })

  // Readiness turns 503 first, then the server stops accepting, in-flight
  // requests finish, and the models plugin releases the sessions.
  closeWithGrace({ delay: config.shutdownDelayMs + config.inferenceTimeoutMs + 5000, logger: fastify.log }, async ({ signal, err }) => {
    if (err !== undefined) fastify.log.error({ err }, 'shutting down after an error')
    else fastify.log.info({ signal }, 'shutting down')
    fastify.lifecycle.draining = true
    if (config.shutdownDelayMs > 0) await sleep(config.shutdownDelayMs)
    await fastify.close()
  })

  // One process serves at once, answering liveness while its models load
  // (readiness says when to send traffic). In a group, a process that is
  // still loading would take its share of the shared port's connections and
  // answer them 503, whatever the pod's readiness probe saw on another one:
  // it listens once its first load has finished, at start or as a replacement.
  if (cluster.isWorker) await fastify.modelsLoaded
  await fastify.listen({ port: config.port, host: config.host })
  if (fastify.grpc !== undefined) {
    const port = await fastify.grpc.listen(config.grpcPort, config.host)
    fastify.log.info({ port }, `gRPC (inference.GRPCInferenceService) listening on ${config.host}:${port}`)
  }
}

function main (): void {
  const config = readConfig()
  if (config.workers > 1 && cluster.isPrimary) {
    aggregateForWorkers()
    relayGathers()
    const log = pino({ level: config.logLevel, base: { pid: process.pid, role: 'primary' } })
    runPrimary(config.workers, log, new QuotaTables(config.rateLimitKeys, evictionWarning(log, config.rateLimitKeys)))
    return
  }
  serve(config).catch((error: unknown) => {
    process.stderr.write(`onnx-serve: cannot start: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  })
}

main()
