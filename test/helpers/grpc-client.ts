// A gRPC client of the server's own service, as a user's @grpc/grpc-js
// client would be: built from proto/ at run time, every call promisified.

import { credentials, loadPackageDefinition, Metadata, type Client, type ServiceError, type CallOptions } from '@grpc/grpc-js'
import type { FastifyInstance } from 'fastify'
import { loadInferencePackage } from '../../grpc/service-definition'
import { devToken } from './build-app'

type Unary = (request: unknown, metadata: Metadata, options: CallOptions, callback: (error: ServiceError | null, response: unknown) => void) => unknown
type ClientCtor = new (address: string, creds: ReturnType<typeof credentials.createInsecure>, options?: Record<string, unknown>) => Client

export interface CallOutcome<T = Record<string, unknown>> {
  response?: T
  error?: ServiceError
  /** The answer's trailing metadata (an error's is error.metadata). */
  trailers?: Metadata
}

export interface InferenceClient {
  client: Client
  /** Calls `method` with `request`; `token`: the bearer token (default a predict+admin token; null: none). */
  call: <T = Record<string, unknown>>(method: string, request?: unknown, options?: { token?: string | null, metadata?: Record<string, string>, deadlineMs?: number }) => Promise<CallOutcome<T>>
}

export function metadataFor (token: string | null | undefined, extra: Record<string, string> = {}): Metadata {
  const metadata = new Metadata()
  const bearer = token === undefined ? devToken() : token
  if (bearer !== null) metadata.set('authorization', `Bearer ${bearer}`)
  for (const [key, value] of Object.entries(extra)) metadata.set(key, value)
  return metadata
}

/** A client of inference.GRPCInferenceService at `address`. */
export function inferenceClient (address: string, options: Record<string, unknown> = {}): InferenceClient {
  const loaded = loadPackageDefinition(loadInferencePackage()) as unknown as { inference: { GRPCInferenceService: ClientCtor } }
  const client = new loaded.inference.GRPCInferenceService(address, credentials.createInsecure(), { 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1, ...options })
  const methods = client as unknown as Record<string, Unary>
  return {
    client,
    call: async (method, request = {}, { token, metadata, deadlineMs } = {}) => await new Promise(resolve => {
      const callOptions: CallOptions = deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs }
      let trailers: Metadata | undefined
      const call = methods[method].call(client, request, metadataFor(token, metadata), callOptions, (error, response) => {
        // The status (with its trailers) comes before the callback.
        setImmediate(() => resolve(error === null ? { response: response as never, trailers } : { error }))
      }) as { on: (event: 'status', listener: (status: { metadata: Metadata }) => void) => void }
      call.on('status', status => { trailers = status.metadata })
    })
  }
}

/** Starts the app's gRPC service on a free port of 127.0.0.1; resolves with the port. */
export async function listenGrpc (app: FastifyInstance): Promise<number> {
  if (app.grpc === undefined) throw new Error('gRPC is off in this app (GRPC_PORT=0)')
  return await app.grpc.listen(0, '127.0.0.1')
}

/** The app's gRPC service on a free port of 127.0.0.1, and a client of it (closed after the test). */
export async function grpcClientOf (t: { teardown: (fn: () => unknown) => void }, app: FastifyInstance): Promise<InferenceClient> {
  const port = await listenGrpc(app)
  const client = inferenceClient(`127.0.0.1:${port}`)
  t.teardown(() => client.client.close())
  return client
}
