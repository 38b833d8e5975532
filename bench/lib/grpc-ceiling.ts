// The gRPC side of the ceilings (echo-server.ts, naive-server.ts): a bare
// @grpc/grpc-js server with only inference.GRPCInferenceService/ModelInfer,
// on GRPC_PORT. A -grpc scenario's ceilings are called with the same loop,
// channels and messages as onnx-serve, so its ratios compare servers, not
// transports: at one call in flight on the EPYC, grpc-js answering a fixed
// message costs 324 µs of server CPU a call where node:http costs 54.

import { Server, ServerCredentials, status, type ServerUnaryCall, type sendUnaryData, type UntypedServiceImplementation } from '@grpc/grpc-js'
import { loadInferenceService } from '../../grpc/service-definition'

/** A tensor's metadata as the proto loader gives and takes it (int64 as strings). */
export interface GrpcTensor {
  name: string
  datatype: string
  shape: string[]
}

/** The fields of ModelInferRequest the ceilings read. */
export interface ModelInferRequest {
  model_name: string
  inputs: GrpcTensor[]
  raw_input_contents?: Buffer[]
}

/** The fields of ModelInferResponse the ceilings send. */
export interface ModelInferResponse {
  model_name: string
  outputs: GrpcTensor[]
  raw_output_contents: Buffer[]
}

/** Serves `infer` as ModelInfer on 127.0.0.1:`port` (every other method: UNIMPLEMENTED); resolves with a stop function once listening. */
export async function serveModelInfer (port: number, infer: (request: ModelInferRequest) => Promise<ModelInferResponse>): Promise<() => void> {
  const service = loadInferenceService()
  const implementation: UntypedServiceImplementation = {}
  for (const name of Object.keys(service)) {
    implementation[name] = (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => { callback({ code: status.UNIMPLEMENTED }) }
  }
  implementation.ModelInfer = (call: ServerUnaryCall<ModelInferRequest, ModelInferResponse>, callback: sendUnaryData<ModelInferResponse>) => {
    infer(call.request).then(response => { callback(null, response) }, (error: Error) => { callback({ code: status.INTERNAL, details: error.message }) })
  }
  const server = new Server()
  server.addService(service, implementation)
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), error => { if (error === null) resolve(); else reject(error) })
  })
  return () => { server.forceShutdown() }
}

/** GRPC_PORT as a port to serve on, or undefined when unset or 0 (HTTP only). */
export function grpcPortOf (env: NodeJS.ProcessEnv): number | undefined {
  const port = Number(env.GRPC_PORT ?? 0)
  return Number.isInteger(port) && port > 0 ? port : undefined
}
