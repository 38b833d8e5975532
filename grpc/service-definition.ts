// Loads the Open Inference Protocol's gRPC service (proto/grpc_service.proto)
// at run time with @grpc/proto-loader: no generated code. The handlers see
// the messages as messages.ts describes them, given these loader options.

import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { ServiceDefinition } from '@grpc/grpc-js'
import { loadSync, type Options, type PackageDefinition } from '@grpc/proto-loader'

/** The service's full name, as its calls' paths and the health service name it. */
export const SERVICE = 'inference.GRPCInferenceService'

/**
 * The proto folder stays at the repository root, while this file runs from
 * grpc/ (source) or dist/grpc/ (build): walk up
 * from here to the first folder that holds proto/grpc_service.proto.
 */
function findProtoDir (): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const candidate = join(dir, 'proto')
    if (existsSync(join(candidate, 'grpc_service.proto'))) return candidate
    if (dirname(dir) === dir) throw new Error(`proto/grpc_service.proto not found in ${__dirname} or any folder above it`)
  }
}

/** The absolute path of the folder of grpc_service.proto and model_config.proto. */
const PROTO_DIR = findProtoDir()

const LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
  arrays: false,
  includeDirs: [PROTO_DIR]
}

let packageDefinition: PackageDefinition | undefined

/** The whole loaded package definition (loaded once), e.g. for @grpc/reflection. */
export function loadInferencePackage (): PackageDefinition {
  packageDefinition ??= loadSync('grpc_service.proto', LOADER_OPTIONS)
  return packageDefinition
}

/** The GRPCInferenceService definition, to pass to server.addService(). */
export function loadInferenceService (): ServiceDefinition {
  const service = loadInferencePackage()[SERVICE]
  if (service === undefined || 'format' in service) throw new Error(`${SERVICE} is not a service in ${join(PROTO_DIR, 'grpc_service.proto')}`)
  return service
}
