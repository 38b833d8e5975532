import { createServer, type Server as NetServer } from 'node:net'
import fp from 'fastify-plugin'
import { Server, ServerCredentials, status, type handleServerStreamingCall, type handleUnaryCall, type ServiceError, type UntypedServiceImplementation } from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { ReflectionService } from '@grpc/reflection'
import { HealthImplementation, protoPath as healthProto, service as healthService, type ServingStatus } from 'grpc-health-check'
import { CallPipeline } from '../grpc/call-pipeline'
import { earlyRefusal } from '../grpc/early-refusal'
import { inferenceService } from '../grpc/inference-service'
import { reflectableDefinition } from '../grpc/reflection'
import { loadInferencePackage, loadInferenceService, SERVICE } from '../grpc/service-definition'

export interface GrpcTransport {
  /** Binds the gRPC service to `host`:`port` (0: any free port) and starts serving; resolves with the port bound. */
  listen: (port: number, host: string) => Promise<number>
  /** The port bound; undefined before listen. */
  port?: number
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The gRPC transport; absent with GRPC_PORT=0 (app.ts does not register it). */
    grpc?: GrpcTransport
  }
}

/** How often the health service looks at readiness: Kubernetes probes every few seconds. */
const HEALTH_REFRESH_MS = 1000
/** Calls at once per HTTP/2 connection, as most gRPC servers allow. */
const MAX_CONCURRENT_STREAMS = 100
/** A connection with no call for this long is closed (clients reconnect when they need to). */
const MAX_CONNECTION_IDLE_MS = 5 * 60_000
/** The server pings a connection quiet for this long, and closes it if the ping is not answered in PING_TIMEOUT_MS: dead peers do not hold connections. */
const PING_INTERVAL_MS = 2 * 60_000
const PING_TIMEOUT_MS = 20_000

function address (host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/**
 * The Open Inference Protocol over gRPC (Triton's GRPCInferenceService), a
 * second transport of the same data plane, on its own port (GRPC_PORT,
 * bound by server.ts), with TLS when HTTPS is on. Beside it: the standard
 * grpc.health.v1.Health service following readiness (Kubernetes' gRPC
 * probe), and server reflection for grpcurl-style tools.
 *
 * Bounded as HTTP is: its connections count in the same limits
 * (plugins/connection-limits: the socket is accepted here and handed to
 * grpc-js), a call of a scoped RPC without a good token is refused before
 * its message is read (grpc/early-refusal), a message is at most
 * BODY_LIMIT bytes, idle and dead connections are closed. On close, the
 * health service turns NOT_SERVING, new calls are refused, and calls and
 * streams in flight finish (for at most INFERENCE_TIMEOUT_MS) before the
 * server stops.
 */
export default fp(async (fastify) => {
  const { config, dataPlane } = fastify
  const pipeline = new CallPipeline(fastify)
  const inference = inferenceService(fastify, pipeline)
  const server = new Server({
    'grpc.max_receive_message_length': config.bodyLimit,
    'grpc.max_concurrent_streams': MAX_CONCURRENT_STREAMS,
    'grpc.max_connection_idle_ms': MAX_CONNECTION_IDLE_MS,
    'grpc.keepalive_time_ms': PING_INTERVAL_MS,
    'grpc.keepalive_timeout_ms': PING_TIMEOUT_MS,
    // channelz counts and traces every call for a debugging service this server does not offer.
    'grpc.enable_channelz': 0,
    // The first interceptor: it gets grpc-js's own call object (grpc/closed-stream-release).
    interceptors: [earlyRefusal(pipeline, inference.policyOf, config.requestTimeoutMs)]
  })
  server.addService(loadInferenceService(), inference.implementation)

  // grpc-health-check keeps a watcher list for every service name it is
  // asked about, forever: only this server's two names reach it.
  const health = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE]: 'NOT_SERVING' })
  let library: UntypedServiceImplementation = {}
  health.addToServer({ addService: (_service, implementation) => { library = implementation } })
  const known = (request: unknown): boolean => {
    const name = (request as { service?: unknown }).service ?? ''
    return name === '' || name === SERVICE
  }
  const unknownService: Partial<ServiceError> = { code: status.NOT_FOUND, details: `unknown service; this server reports its health as '' and '${SERVICE}'` }
  const check: handleUnaryCall<unknown, unknown> = (call, callback) => {
    if (known(call.request)) (library.check as handleUnaryCall<unknown, unknown>)(call, callback)
    else callback(unknownService)
  }
  const watch: handleServerStreamingCall<unknown, unknown> = (call) => {
    if (known(call.request)) (library.watch as handleServerStreamingCall<unknown, unknown>)(call)
    else call.emit('error', unknownService)
  }
  server.addService(healthService, { check, watch })
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

  let listener: NetServer | undefined
  const transport: GrpcTransport = {
    async listen (port, host) {
      // One listener: a second would be left open by close, and hold the process.
      if (listener !== undefined) throw new Error(`gRPC is already listening on port ${String(transport.port)}`)
      const credentials = config.tls === undefined
        ? ServerCredentials.createInsecure()
        : ServerCredentials.createSsl(null, [{ cert_chain: config.tls.cert, private_key: config.tls.key }])
      const injector = server.createConnectionInjector(credentials)
      const sockets = createServer(socket => {
        if (fastify.connectionLimiter.admit(socket)) injector.injectConnection(socket)
      })
      sockets.maxConnections = config.maxConnections
      await new Promise<void>((resolve, reject) => {
        sockets.once('error', (error: Error) => reject(new Error(`GRPC_PORT: cannot listen on ${address(host, port)} (${error.message}); set GRPC_PORT to a free port, or 0 to turn gRPC off`)))
        sockets.listen(port, host, resolve)
      })
      listener = sockets
      const bound = sockets.address()
      transport.port = typeof bound === 'object' && bound !== null ? bound.port : port
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
    if (listener === undefined) return
    listener.close()
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
}, { name: 'grpc', dependencies: ['config', 'auth', 'rate-limit', 'data-plane', 'metrics', 'lifecycle', 'load-shedding', 'connection-limits'] })
