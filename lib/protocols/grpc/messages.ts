// The messages of proto/grpc_service.proto and proto/model_config.proto as
// @grpc/proto-loader hands them to the handlers and takes them back, loaded
// with { keepCase: true, longs: String, enums: String, defaults: false,
// oneofs: true, arrays: false } (service-definition.ts):
//
// - Received (requests): every field optional, since fields left at their
//   default are not on the wire and, with defaults and arrays off, absent
//   here too (an empty list or map included). 64-bit integers arrive as
//   decimal strings, bytes as Buffers, maps as plain objects; a set oneof
//   member comes with the oneof's name property saying which one it is.
// - Sent (responses): what the server builds. 64-bit integers may be numbers
//   or decimal strings (Int64Out), bytes any Uint8Array, enums by name;
//   repeated fields must be real arrays (the encoder refuses typed arrays).
//   A oneof is sent by setting one member; its name property is not needed.
//
// A message used in both directions has both forms: the received one under
// the message's name, the sent one with the suffix Out.

/** A 64-bit integer the server sends: a number (exact up to 2^53 - 1) or a decimal string. */
export type Int64Out = number | string

/** An empty message (most responses of the shared-memory RPCs, the empty requests). */
export type Empty = Record<string, never>

// ----------------------------------------------------------------- health

export type ServerLiveRequest = Empty
export interface ServerLiveResponse { live: boolean }

export type ServerReadyRequest = Empty
export interface ServerReadyResponse { ready: boolean }

export interface ModelReadyRequest {
  name?: string
  /** Absent: the version the server would pick. */
  version?: string
}
export interface ModelReadyResponse { ready: boolean }

// --------------------------------------------------------------- metadata

export type ServerMetadataRequest = Empty
export interface ServerMetadataResponse {
  name: string
  version: string
  extensions: string[]
}

export interface ModelMetadataRequest {
  name?: string
  version?: string
}

/** ModelMetadataResponse.TensorMetadata: -1 in shape for a dynamic dimension. */
export interface TensorMetadata {
  name: string
  datatype: string
  shape: Int64Out[]
}

export interface ModelMetadataResponse {
  name: string
  versions: string[]
  platform: string
  inputs: TensorMetadata[]
  outputs: TensorMetadata[]
}

// -------------------------------------------------------------- inference

/** The names of InferParameter's oneof parameter_choice. */
export type InferParameterChoice = 'bool_param' | 'int64_param' | 'string_param' | 'double_param' | 'uint64_param'

/**
 * A parameter value received (request, input or requested output): narrow
 * on parameter_choice; absent when the client set no member.
 */
export type InferParameter =
  | { parameter_choice: 'bool_param', bool_param: boolean }
  | { parameter_choice: 'int64_param', int64_param: string }
  | { parameter_choice: 'string_param', string_param: string }
  | { parameter_choice: 'double_param', double_param: number }
  | { parameter_choice: 'uint64_param', uint64_param: string }
  | { parameter_choice?: undefined }

/** A parameter value sent (a response's or an output's parameters): one member set. */
export type InferParameterOut =
  | { bool_param: boolean }
  | { int64_param: Int64Out }
  | { string_param: string }
  | { double_param: number }
  | { uint64_param: Int64Out }

/** A tensor's elements received, row-major, in the field of its datatype. */
export interface InferTensorContents {
  bool_contents?: boolean[]
  /** INT8, INT16, INT32. */
  int_contents?: number[]
  int64_contents?: string[]
  /** UINT8, UINT16, UINT32. */
  uint_contents?: number[]
  uint64_contents?: string[]
  fp32_contents?: number[]
  fp64_contents?: number[]
  /** BYTES: one entry per element. */
  bytes_contents?: Buffer[]
}

/** A tensor's elements sent: one field set, a plain array (not a typed array). */
export interface InferTensorContentsOut {
  bool_contents?: boolean[]
  int_contents?: number[]
  int64_contents?: Int64Out[]
  uint_contents?: number[]
  uint64_contents?: Int64Out[]
  fp32_contents?: number[]
  fp64_contents?: number[]
  bytes_contents?: Uint8Array[]
}

/** ModelInferRequest.InferInputTensor: data in contents or in the request's raw_input_contents. */
export interface InferInputTensor {
  name?: string
  datatype?: string
  shape?: string[]
  parameters?: Record<string, InferParameter>
  contents?: InferTensorContents
}

/** ModelInferRequest.InferRequestedOutputTensor. */
export interface InferRequestedOutputTensor {
  name?: string
  parameters?: Record<string, InferParameter>
}

export interface ModelInferRequest {
  model_name?: string
  model_version?: string
  id?: string
  parameters?: Record<string, InferParameter>
  inputs?: InferInputTensor[]
  /** Absent: every output. */
  outputs?: InferRequestedOutputTensor[]
  /** One entry per input, in inputs order, when the client sends raw data. */
  raw_input_contents?: Buffer[]
}

/** ModelInferResponse.InferOutputTensor: data in contents or in the response's raw_output_contents. */
export interface InferOutputTensor {
  name: string
  datatype: string
  shape: Int64Out[]
  parameters?: Record<string, InferParameterOut>
  contents?: InferTensorContentsOut
}

export interface ModelInferResponse {
  model_name: string
  model_version: string
  id?: string
  parameters?: Record<string, InferParameterOut>
  outputs: InferOutputTensor[]
  /** One entry per output, in outputs order, when data is sent raw. */
  raw_output_contents?: Uint8Array[]
}

/** One message of ModelStreamInfer: an error or a response. */
export interface ModelStreamInferResponse {
  error_message?: string
  infer_response?: ModelInferResponse
}

// ---------------------------------------------------------- configuration

export interface ModelConfigRequest {
  name?: string
  version?: string
}

/** model_config.proto's DataType, by name. */
export type DataType =
  | 'TYPE_INVALID' | 'TYPE_BOOL'
  | 'TYPE_UINT8' | 'TYPE_UINT16' | 'TYPE_UINT32' | 'TYPE_UINT64'
  | 'TYPE_INT8' | 'TYPE_INT16' | 'TYPE_INT32' | 'TYPE_INT64'
  | 'TYPE_FP16' | 'TYPE_FP32' | 'TYPE_FP64' | 'TYPE_STRING' | 'TYPE_BF16'

/** ModelInput.Format. */
export type ModelInputFormat = 'FORMAT_NONE' | 'FORMAT_NHWC' | 'FORMAT_NCHW'

/** ModelInstanceGroup.Kind. */
export type ModelInstanceGroupKind = 'KIND_AUTO' | 'KIND_GPU' | 'KIND_CPU' | 'KIND_MODEL'

/** dims leave out the batch dimension when max_batch_size is above 0; -1 for any size. */
export interface ModelInput {
  name: string
  data_type: DataType
  format?: ModelInputFormat
  dims: Int64Out[]
  /** Set when the model's own shape differs from dims: one value per row is dims [1], reshape []. */
  reshape?: { shape: Int64Out[] }
  allow_ragged_batch?: boolean
  optional?: boolean
}

export interface ModelOutput {
  name: string
  data_type: DataType
  dims: Int64Out[]
  label_filename?: string
  reshape?: { shape: Int64Out[] }
}

/** ModelVersionPolicy: one member of its oneof policy_choice. */
export type ModelVersionPolicy =
  | { latest: { num_versions: number } }
  | { all: Empty }
  | { specific: { versions: Int64Out[] } }

export interface ModelDynamicBatching {
  preferred_batch_size?: number[]
  max_queue_delay_microseconds?: Int64Out
  preserve_ordering?: boolean
}

export interface ModelInstanceGroup {
  name?: string
  kind?: ModelInstanceGroupKind
  count?: number
}

export interface ModelParameter { string_value: string }

export interface ModelResponseCache { enable: boolean }

export interface ModelConfig {
  name: string
  platform?: string
  backend?: string
  version_policy?: ModelVersionPolicy
  max_batch_size?: number
  input?: ModelInput[]
  output?: ModelOutput[]
  instance_group?: ModelInstanceGroup[]
  default_model_filename?: string
  /** The only member of the oneof scheduling_choice declared here. */
  dynamic_batching?: ModelDynamicBatching
  parameters?: Record<string, ModelParameter>
  response_cache?: ModelResponseCache
}

export interface ModelConfigResponse { config: ModelConfig }

// ------------------------------------------------------------- statistics

/** name absent: every model; version absent: every version. */
export interface ModelStatisticsRequest {
  name?: string
  version?: string
}

export interface StatisticDuration {
  count: Int64Out
  ns: Int64Out
}

export interface InferStatistics {
  success: StatisticDuration
  fail: StatisticDuration
  queue: StatisticDuration
  compute_input: StatisticDuration
  compute_infer: StatisticDuration
  compute_output: StatisticDuration
  cache_hit: StatisticDuration
  cache_miss: StatisticDuration
}

/** Per-response statistics of decoupled models. */
export interface InferResponseStatistics {
  compute_infer?: StatisticDuration
  compute_output?: StatisticDuration
  success?: StatisticDuration
  fail?: StatisticDuration
  empty_response?: StatisticDuration
  cancel?: StatisticDuration
}

export interface InferBatchStatistics {
  batch_size: Int64Out
  compute_input: StatisticDuration
  compute_infer: StatisticDuration
  compute_output: StatisticDuration
}

export interface MemoryUsage {
  /** CPU, CPU_PINNED or GPU. */
  type: string
  id: Int64Out
  byte_size: Int64Out
}

export interface ModelStatistics {
  name: string
  version: string
  /** Milliseconds since the epoch; 0 before the first inference. */
  last_inference: Int64Out
  inference_count: Int64Out
  execution_count: Int64Out
  inference_stats: InferStatistics
  batch_stats: InferBatchStatistics[]
  memory_usage?: MemoryUsage[]
  response_stats?: Record<string, InferResponseStatistics>
}

export interface ModelStatisticsResponse { model_stats: ModelStatistics[] }

// ------------------------------------------------------- model repository

/** The names of ModelRepositoryParameter's oneof parameter_choice. */
export type ModelRepositoryParameterChoice = 'bool_param' | 'int64_param' | 'string_param' | 'bytes_param'

/** A load/unload parameter received: narrow on parameter_choice. */
export type ModelRepositoryParameter =
  | { parameter_choice: 'bool_param', bool_param: boolean }
  | { parameter_choice: 'int64_param', int64_param: string }
  | { parameter_choice: 'string_param', string_param: string }
  | { parameter_choice: 'bytes_param', bytes_param: Buffer }
  | { parameter_choice?: undefined }

export interface RepositoryIndexRequest {
  repository_name?: string
  /** true: only the models that are ready. */
  ready?: boolean
}

/** RepositoryIndexResponse.ModelIndex. */
export interface ModelIndex {
  name: string
  version?: string
  state: string
  reason?: string
}

export interface RepositoryIndexResponse { models: ModelIndex[] }

/**
 * Triton's form sets model_name (field 2); KServe's sets only its model_name
 * as field 1, which arrives here as repository_name with model_name absent.
 */
export interface RepositoryModelLoadRequest {
  repository_name?: string
  model_name?: string
  parameters?: Record<string, ModelRepositoryParameter>
}

/** Empty for Triton's clients; model_name and isLoaded are KServe's fields. */
export interface RepositoryModelLoadResponse {
  model_name?: string
  isLoaded?: boolean
}

/** As RepositoryModelLoadRequest: field 1 alone is KServe's form. */
export interface RepositoryModelUnloadRequest {
  repository_name?: string
  model_name?: string
  parameters?: Record<string, ModelRepositoryParameter>
}

/** Empty for Triton's clients; model_name and isUnloaded are KServe's fields. */
export interface RepositoryModelUnloadResponse {
  model_name?: string
  isUnloaded?: boolean
}

// ---------------------------------------------------------- shared memory

export interface SystemSharedMemoryStatusRequest { name?: string }

/** SystemSharedMemoryStatusResponse.RegionStatus. */
export interface SystemSharedMemoryRegionStatus {
  name: string
  key: string
  offset: Int64Out
  byte_size: Int64Out
}

export interface SystemSharedMemoryStatusResponse { regions: Record<string, SystemSharedMemoryRegionStatus> }

export interface SystemSharedMemoryRegisterRequest {
  name?: string
  key?: string
  offset?: string
  byte_size?: string
}
export type SystemSharedMemoryRegisterResponse = Empty

export interface SystemSharedMemoryUnregisterRequest { name?: string }
export type SystemSharedMemoryUnregisterResponse = Empty

export interface CudaSharedMemoryStatusRequest { name?: string }

/** CudaSharedMemoryStatusResponse.RegionStatus. */
export interface CudaSharedMemoryRegionStatus {
  name: string
  device_id: Int64Out
  byte_size: Int64Out
}

export interface CudaSharedMemoryStatusResponse { regions: Record<string, CudaSharedMemoryRegionStatus> }

export interface CudaSharedMemoryRegisterRequest {
  name?: string
  raw_handle?: Buffer
  device_id?: string
  byte_size?: string
}
export type CudaSharedMemoryRegisterResponse = Empty

export interface CudaSharedMemoryUnregisterRequest { name?: string }
export type CudaSharedMemoryUnregisterResponse = Empty

// ------------------------------------------------------ trace and logging

/** TraceSettingRequest.SettingValue received; absent value: reset the setting. */
export interface TraceSettingValue { value?: string[] }

/** TraceSettingResponse.SettingValue. */
export interface TraceSettingValueOut { value: string[] }

export interface TraceSettingRequest {
  settings?: Record<string, TraceSettingValue>
  model_name?: string
}

export interface TraceSettingResponse { settings: Record<string, TraceSettingValueOut> }

/** LogSettingsRequest.SettingValue received: narrow on parameter_choice. */
export type LogSettingValue =
  | { parameter_choice: 'bool_param', bool_param: boolean }
  | { parameter_choice: 'uint32_param', uint32_param: number }
  | { parameter_choice: 'string_param', string_param: string }
  | { parameter_choice?: undefined }

/** LogSettingsResponse.SettingValue: one member set. */
export type LogSettingValueOut =
  | { bool_param: boolean }
  | { uint32_param: number }
  | { string_param: string }

export interface LogSettingsRequest { settings?: Record<string, LogSettingValue> }

export interface LogSettingsResponse { settings: Record<string, LogSettingValueOut> }
