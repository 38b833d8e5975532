import fp from 'fastify-plugin'
import { Server, ServerCredentials } from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { ReflectionService } from '@grpc/reflection'
import { HealthImplementation, protoPath as healthProto, type ServingStatus } from 'grpc-health-check'
import { inferenceService } from '../grpc/inference-service'
import { reflectableDefinition } from '../grpc/reflection'
import { loadInferencePackage, loadInferenceService } from '../grpc/service-definition'

export interface GrpcTransport {
  /** Binds the gRPC service to `host`:`port` (0: any free port) and starts serving; resolves with the port bound. */
  listen: (port: number, host: string) => Promise<number>
  /** The port bound; undefined before listen. */
  port?: number
}

declare module 'fastify' {
  interface FastifyInstance {
    grpc: GrpcTransport
  }
}

const SERVICE = 'inference.GRPCInferenceService'
/** How often the health service looks at readiness: Kubernetes probes every few seconds. */
const HEALTH_REFRESH_MS = 1000
/** Streams per HTTP/2 connection, as most gRPC servers allow. */
const MAX_CONCURRENT_STREAMS = 100

function address (host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/**
 * The Open Inference Protocol over gRPC (Triton's GRPCInferenceService), a
 * second transport of the same data plane, on its own port (GRPC_PORT,
 * bound by server.ts), with TLS when HTTPS is on. Beside it: the standard
 * grpc.health.v1.Health service following readiness (Kubernetes' gRPC
 * probe), and server reflection for grpcurl-style tools. A message is at
 * most BODY_LIMIT bytes, as an HTTP body. On close, the health service turns
 * NOT_SERVING, new calls are refused, and calls and streams in flight
 * finish (for at most INFERENCE_TIMEOUT_MS) before the server stops.
 */
export default fp(async (fastify) => {
  const { config, dataPlane } = fastify
  const server = new Server({
    'grpc.max_receive_message_length': config.bodyLimit,
    'grpc.max_concurrent_streams': MAX_CONCURRENT_STREAMS
  })
  server.addService(loadInferenceService(), inferenceService(fastify))

  const health = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE]: 'NOT_SERVING' })
  health.addToServer(server)
  // Set on changes only: every setStatus is sent to each Watch stream.
  let current: ServingStatus = 'NOT_SERVING'
  const setHealth = (serving: ServingStatus): void => {
    if (serving === current) return
    current = serving
    health.setStatus('', serving)
    health.setStatus(SERVICE, serving)
  }
  const refreshHealth = (): void => setHealth(dataPlane.notReadyReason() === undefined ? 'SERVING' : 'NOT_SERVING')
  let refresher: NodeJS.Timeout | undefined

  const healthPackage = loadSync(healthProto, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true })
  new ReflectionService(reflectableDefinition({ ...loadInferencePackage(), ...healthPackage })).addToServer(server)

  const transport: GrpcTransport = {
    async listen (port, host) {
      const credentials = config.tls === undefined
        ? ServerCredentials.createInsecure()
        : ServerCredentials.createSsl(null, [{ cert_chain: config.tls.cert, private_key: config.tls.key }])
      transport.port = await new Promise<number>((resolve, reject) => {
        server.bindAsync(address(host, port), credentials, (error, bound) => error === null
          ? resolve(bound)
          : reject(new Error(`GRPC_PORT: cannot listen on ${address(host, port)} (${error.message}); set GRPC_PORT to a free port, or 0 to turn gRPC off`)))
      })
      refreshHealth()
      refresher = setInterval(refreshHealth, HEALTH_REFRESH_MS).unref()
      return transport.port
    }
  }
  fastify.decorate('grpc', transport)

  // The drain starts with Fastify's close, beside HTTP's, and is waited for
  // before the models are released (onClose hooks run in reverse order of
  // registration, and the models plugin came first).
  let drained: Promise<void> = Promise.resolve()
  fastify.addHook('preClose', async () => {
    clearInterval(refresher)
    setHealth('NOT_SERVING')
    if (transport.port === undefined) return
    drained = new Promise<void>(resolve => {
      const force = setTimeout(() => {
        fastify.log.warn('gRPC calls still open after INFERENCE_TIMEOUT_MS of draining: cancelled')
        server.forceShutdown()
        resolve()
      }, config.inferenceTimeoutMs).unref()
      server.tryShutdown(() => {
        clearTimeout(force)
        resolve()
      })
    })
  })
  fastify.addHook('onClose', async () => await drained)
}, { name: 'grpc', dependencies: ['config', 'auth', 'rate-limit', 'data-plane', 'metrics', 'lifecycle', 'load-shedding'] })
