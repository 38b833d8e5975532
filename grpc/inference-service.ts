// inference.GRPCInferenceService: each RPC maps its messages to one
// data-plane call, as the /v2 routes map HTTP, and goes through the call
// pipeline (auth, scopes, quota, shedding, logs, metrics) first. Health is
// public as over HTTP; the repository RPCs need the admin scope, the others
// predict. The shared-memory, trace and log RPCs answer UNIMPLEMENTED.

import { status, type handleBidiStreamingCall, type handleUnaryCall, type ServerDuplexStream, type UntypedServiceImplementation } from '@grpc/grpc-js'
import type { FastifyInstance } from 'fastify'
import { InputError, NotFoundError, UnavailableError } from '../lib/errors'
import { grpcInfer } from '../lib/protocols/grpc/infer'
import type {
  ModelConfigRequest, ModelConfigResponse, ModelInferRequest, ModelInferResponse, ModelMetadataRequest, ModelMetadataResponse,
  ModelReadyRequest, ModelReadyResponse, ModelRepositoryParameter, ModelStatisticsRequest, ModelStatisticsResponse,
  ModelStreamInferResponse, RepositoryIndexRequest, RepositoryIndexResponse, RepositoryModelLoadRequest, RepositoryModelLoadResponse,
  RepositoryModelUnloadRequest, RepositoryModelUnloadResponse, ServerLiveResponse, ServerMetadataResponse, ServerReadyResponse
} from '../lib/protocols/grpc/messages'
import { modelNameOf, modelRefOf } from '../lib/protocols/grpc/model-ref'
import { modelConfig, modelMetadata, serverMetadata } from '../lib/protocols/v2/metadata'
import { modelStatistics } from '../lib/protocols/v2/statistics'
import { deadlineOf, type CallContext, type CallPipeline, type CallPolicy, type SurfaceCall } from './call-pipeline'
import { SERVICE } from './service-definition'
import { toServiceError } from './status'

/** Messages of one stream that may be in flight at once; past it the stream is paused (HTTP/2 flow control holds the client). */
const STREAM_IN_FLIGHT = 64

const UNIMPLEMENTED = [
  'SystemSharedMemoryStatus', 'SystemSharedMemoryRegister', 'SystemSharedMemoryUnregister',
  'CudaSharedMemoryStatus', 'CudaSharedMemoryRegister', 'CudaSharedMemoryUnregister',
  'TraceSetting', 'LogSettings'
]

/** The model a load or unload names: Triton's model_name, or KServe's, which arrives as field 1 (repository_name). */
function repositoryModel (request: RepositoryModelLoadRequest | RepositoryModelUnloadRequest): string {
  const kserve = (request.model_name ?? '') === '' && (request.repository_name ?? '') !== ''
  return modelNameOf(kserve ? request.repository_name : request.model_name, 'model_name')
}

/** Load parameters by name (the data plane refuses any: the repository folder is the one source of models). */
function parameterNames (parameters: Record<string, ModelRepositoryParameter> | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.keys(parameters ?? {}).map(key => [key, true]))
}

/** The code the client got for an answer: OK, unless it gave up first (its deadline, or a cancel). */
function answeredCode (call: SurfaceCall & { cancelled: boolean }): status {
  if (!call.cancelled) return status.OK
  const deadline = deadlineOf(call)
  return deadline !== undefined && deadline <= Date.now() ? status.DEADLINE_EXCEEDED : status.CANCELLED
}

export interface InferenceService {
  implementation: UntypedServiceImplementation
  /** Each RPC's policy by its path (/inference.GRPCInferenceService/ModelInfer), for the early refusal. */
  policyOf: (path: string) => CallPolicy | undefined
}

export function inferenceService (fastify: FastifyInstance, pipeline: CallPipeline): InferenceService {
  const { dataPlane } = fastify
  const policies = new Map<string, CallPolicy>()

  function unary<Request, Response> (policy: CallPolicy, work: (request: Request, context: CallContext) => Response | Promise<Response>): handleUnaryCall<Request, Response> {
    policies.set(policy.method, policy)
    return (call, callback) => {
      const context = pipeline.begin(call, policy.method)
      pipeline.within(context, async () => {
        await pipeline.admit(call, context, policy)
        return await work(call.request, context)
      })
        .then(response => {
          pipeline.finish(policy, context, answeredCode(call))
          callback(null, response, pipeline.trailers(context))
        }, (error: unknown) => {
          const refusal = toServiceError(error, pipeline.trailers(context))
          pipeline.finish(policy, context, refusal.code ?? status.INTERNAL, error)
          callback(refusal)
        })
    }
  }

  const predict = (method: string): CallPolicy => ({ method, scope: 'predict' })
  const admin = (method: string): CallPolicy => ({ method, scope: 'admin' })
  const health = (method: string): CallPolicy => ({ method, shed: false })

  const infer = async (request: ModelInferRequest, context: CallContext): Promise<ModelInferResponse> => {
    context.model = request.model_name
    return await dataPlane.infer(grpcInfer, modelRefOf(request.model_name, request.model_version, { name: 'model_name', version: 'model_version' }), request, context.facts)
  }

  const streamPolicy = predict('ModelStreamInfer')
  policies.set(streamPolicy.method, streamPolicy)
  /**
   * Each message is admitted (quota, shedding) and answered on its own, in
   * the order they came: a refusal becomes that message's error_message and
   * the stream goes on. Messages run concurrently, so a stream's requests
   * share batches. At most STREAM_IN_FLIGHT are held at once, from the
   * message read to its answer written out: a client that does not read its
   * answers stops being read (HTTP/2 flow control then holds it).
   */
  const streamInfer: handleBidiStreamingCall<ModelInferRequest, ModelStreamInferResponse> = (call: ServerDuplexStream<ModelInferRequest, ModelStreamInferResponse>) => {
    // A stream without a good token, or of a caller without the scope, fails
    // as a whole (its status), as a unary call would: it never starts.
    const opening = pipeline.begin(call, 'ModelStreamInfer')
    const opened = pipeline.authorize(call, opening, streamPolicy).then(() => {
      opening.span?.end()
      return true
    }, (error: unknown) => {
      const refusal = toServiceError(error, pipeline.trailers(opening))
      pipeline.finish(streamPolicy, opening, refusal.code ?? status.INTERNAL, error)
      call.emit('error', refusal)
      return false
    })
    let answered: Promise<void> = Promise.resolve()
    let inFlight = 0
    call.on('data', (request: ModelInferRequest) => {
      const context = pipeline.begin(call, 'ModelStreamInfer')
      inFlight++
      if (inFlight >= STREAM_IN_FLIGHT) call.pause()
      const answer = opened.then(async ok => {
        // Refused at its opening: the stream ends with that status, and its messages are not served.
        if (!ok) throw new UnavailableError('the stream was refused')
        return await pipeline.within(context, async () => {
          await pipeline.admit(call, context, streamPolicy, { streamOpen: true })
          return await infer(request, context)
        })
      })
        .then((response): ModelStreamInferResponse => {
          pipeline.finish(streamPolicy, context, answeredCode(call))
          return { infer_response: response }
        }, (error: unknown): ModelStreamInferResponse => {
          const refusal = toServiceError(error, pipeline.trailers(context))
          pipeline.finish(streamPolicy, context, refusal.code ?? status.INTERNAL, error)
          // The id lets a client tell which request failed.
          return { error_message: refusal.details ?? '', ...(request.id === undefined ? {} : { infer_response: { id: request.id, model_name: request.model_name ?? '', model_version: request.model_version ?? '', outputs: [] } }) }
        })
      const settled = (): void => {
        inFlight--
        if (inFlight < STREAM_IN_FLIGHT) call.resume()
      }
      answered = answered.then(async () => {
        const message = await answer
        if (await opened && !call.cancelled && call.writable) call.write(message, settled)
        else settled()
      })
    })
    call.on('end', () => { answered.then(async () => { if (await opened) call.end() }, () => call.end()) })
    call.on('error', () => {})
  }

  const implementation: UntypedServiceImplementation = {
    ServerLive: unary(health('ServerLive'), (): ServerLiveResponse => ({ live: dataPlane.notLiveReason() === undefined })),
    ServerReady: unary(health('ServerReady'), (): ServerReadyResponse => ({ ready: dataPlane.notReadyReason() === undefined })),
    // As Triton: an unknown model, or one that does not serve, is not ready (no error).
    ModelReady: unary(predict('ModelReady'), (request: ModelReadyRequest): ModelReadyResponse => {
      const ref = modelRefOf(request.name, request.version)
      try {
        return dataPlane.model(ref, () => ({ ready: true }))
      } catch (error) {
        if (error instanceof NotFoundError || error instanceof UnavailableError) return { ready: false }
        throw error
      }
    }),
    ServerMetadata: unary(predict('ServerMetadata'), (): ServerMetadataResponse => dataPlane.server(serverMetadata)),
    ModelMetadata: unary(predict('ModelMetadata'), (request: ModelMetadataRequest): ModelMetadataResponse =>
      dataPlane.model(modelRefOf(request.name, request.version), modelMetadata)),
    ModelConfig: unary(predict('ModelConfig'), (request: ModelConfigRequest): ModelConfigResponse =>
      ({ config: dataPlane.model(modelRefOf(request.name, request.version), modelConfig) as unknown as ModelConfigResponse['config'] })),
    ModelStatistics: unary(predict('ModelStatistics'), async (request: ModelStatisticsRequest): Promise<ModelStatisticsResponse> => {
      const ref = (request.name ?? '') === '' ? {} : modelRefOf(request.name, request.version)
      return await dataPlane.statistics(ref, modelStatistics)
    }),
    ModelInfer: unary(predict('ModelInfer'), infer),
    ModelStreamInfer: streamInfer,
    RepositoryIndex: unary(admin('RepositoryIndex'), async (request: RepositoryIndexRequest): Promise<RepositoryIndexResponse> => {
      if ((request.repository_name ?? '') !== '') {
        throw new InputError('repository_name', 'repository_name: this server serves one repository (MODEL_REPOSITORY); leave the field empty')
      }
      return { models: await dataPlane.repositoryIndex(request.ready === true) }
    }),
    RepositoryModelLoad: unary(admin('RepositoryModelLoad'), async (request: RepositoryModelLoadRequest): Promise<RepositoryModelLoadResponse> => {
      const name = repositoryModel(request)
      await dataPlane.load(name, parameterNames(request.parameters), 'parameters')
      return { model_name: name, isLoaded: true }
    }),
    RepositoryModelUnload: unary(admin('RepositoryModelUnload'), async (request: RepositoryModelUnloadRequest): Promise<RepositoryModelUnloadResponse> => {
      const name = repositoryModel(request)
      await dataPlane.unload(name)
      return { model_name: name, isUnloaded: true }
    })
  }
  for (const method of UNIMPLEMENTED) {
    const refuse: handleUnaryCall<unknown, never> = (_call, callback) => {
      callback({ code: status.UNIMPLEMENTED, details: `${method} is not implemented by this server: it serves tensors sent in the request (contents or raw_input_contents), not shared memory, and takes its trace and log settings from its configuration` })
    }
    implementation[method] = refuse
  }
  const prefix = `/${SERVICE}/`
  return { implementation, policyOf: path => path.startsWith(prefix) ? policies.get(path.slice(prefix.length)) : undefined }
}
