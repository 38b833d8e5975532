// The gRPC side of the ceilings (echo-server.ts, naive-server.ts): a bare
// @grpc/grpc-js server with only inference.GRPCInferenceService/ModelInfer,
// on GRPC_PORT. A -grpc scenario's ceilings are called with the same loop,
// channels and messages as onnx-serve, so its ratios compare servers, not
// transports: at one call in flight on the EPYC, grpc-js answering a fixed
// message costs 324 µs of server CPU a call where a bare node:http server
// answering a GET costs 54.

import { Server, ServerCredentials, status, type ServerUnaryCall, type sendUnaryData, type UntypedServiceImplementation } from '@grpc/grpc-js'
import * as ort from 'onnxruntime-node'
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

/** The echo's ModelInfer: the request's own tensors back as outputs. */
export async function echoInfer (request: ModelInferRequest): Promise<ModelInferResponse> {
  return { model_name: request.model_name, outputs: request.inputs, raw_output_contents: request.raw_input_contents ?? [] }
}

// The datatypes of the Open Inference Protocol for the runtime's output types.
const DATATYPES: Record<string, string> = { float32: 'FP32', float64: 'FP64', int64: 'INT64', int32: 'INT32', bool: 'BOOL' }

/** The naive handler's ModelInfer: the first input's FP32 bytes through session.run, every output back as raw bytes. */
export async function naiveInfer (session: ort.InferenceSession, request: ModelInferRequest): Promise<ModelInferResponse> {
  const [input] = request.inputs
  const raw = request.raw_input_contents?.[0] ?? Buffer.alloc(0)
  // Copied: the message's bytes need not be 4-byte aligned for a Float32Array view.
  const data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength))
  const outputs = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, input.shape.map(Number)) })
  const names = Object.keys(outputs)
  return {
    model_name: request.model_name,
    outputs: names.map(name => ({ name, datatype: DATATYPES[outputs[name].type] ?? outputs[name].type.toUpperCase(), shape: outputs[name].dims.map(String) })),
    raw_output_contents: names.map(name => {
      const values = outputs[name].data as Float32Array
      return Buffer.from(values.buffer, values.byteOffset, values.byteLength)
    })
  }
}

/** Serves `infer` as ModelInfer on 127.0.0.1:`port` (0: a free one; every other method: UNIMPLEMENTED); resolves once listening. */
export async function serveModelInfer (port: number, infer: (request: ModelInferRequest) => Promise<ModelInferResponse>): Promise<{ port: number, stop: () => void }> {
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
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (error, boundPort) => { if (error === null) resolve(boundPort); else reject(error) })
  })
  return { port: bound, stop: () => { server.forceShutdown() } }
}

/** GRPC_PORT as a port to serve on, or undefined when unset or 0 (HTTP only). */
export function grpcPortOf (env: NodeJS.ProcessEnv): number | undefined {
  const port = Number(env.GRPC_PORT ?? 0)
  return Number.isInteger(port) && port > 0 ? port : undefined
}
