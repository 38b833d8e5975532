// The standard services beside the inference service: grpc.health.v1
// (Kubernetes' gRPC probe) following readiness, and server reflection
// (grpcurl-style tools) describing the service as protoc would.

import { join } from 'node:path'
import t from 'tap'
import { credentials, loadPackageDefinition, type Client, type ServiceError } from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { protoPath as healthProto } from 'grpc-health-check'
import { FileDescriptorProto, type IDescriptorProto, type IFileDescriptorProto } from 'protobufjs/ext/descriptor'
import { buildApp } from '../helpers/build-app'
import { listenGrpc } from '../helpers/grpc-client'

type ClientCtor = new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => Client
const options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true }

function healthClient (port: number): Client & Record<string, (request: unknown, callback: (error: ServiceError | null, response: { status: string }) => void) => void> {
  const loaded = loadPackageDefinition(loadSync(healthProto, options)) as unknown as { grpc: { health: { v1: { Health: ClientCtor } } } }
  return new loaded.grpc.health.v1.Health(`127.0.0.1:${port}`, credentials.createInsecure()) as never
}

async function check (client: ReturnType<typeof healthClient>, service: string): Promise<string> {
  return await new Promise((resolve, reject) => client.Check({ service }, (error, response) => error === null ? resolve(response.status) : reject(error)))
}

t.test('grpc.health.v1 follows readiness, and turns NOT_SERVING as the server drains', async t => {
  const app = await buildApp(t)
  const port = await listenGrpc(app)
  const client = healthClient(port)
  t.teardown(() => client.close())
  t.equal(await check(client, ''), 'SERVING', 'the server')
  t.equal(await check(client, 'inference.GRPCInferenceService'), 'SERVING', 'the inference service')
  await t.rejects(check(client, 'nope'), { code: 5 }, 'an unknown service: NOT_FOUND')
  const closing = app.close()
  // preClose has run by the time close's first turn is over.
  await new Promise(resolve => setImmediate(resolve))
  t.equal(await check(client, '').catch(() => 'NOT_SERVING'), 'NOT_SERVING', 'draining: NOT_SERVING (or no longer answering)')
  await closing
})

/** Every message type in `file`, nested ones included. */
function messages (list: IDescriptorProto[] | null | undefined): IDescriptorProto[] {
  return (list ?? []).flatMap(message => [message, ...messages(message.nestedType)])
}

t.test('reflection lists the services and describes them as protoc does', async t => {
  const app = await buildApp(t)
  const port = await listenGrpc(app)
  const reflectionProto = join(require.resolve('@grpc/reflection'), '..', '..', 'proto', 'grpc', 'reflection', 'v1', 'reflection.proto')
  const loaded = loadPackageDefinition(loadSync(reflectionProto, options)) as unknown as { grpc: { reflection: { v1: { ServerReflection: ClientCtor } } } }
  const client = new loaded.grpc.reflection.v1.ServerReflection(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as Record<string, () => NodeJS.ReadWriteStream & { write: (message: unknown) => boolean, end: () => void }>
  t.teardown(() => (client as unknown as Client).close())
  const ask = async (request: Record<string, unknown>): Promise<Record<string, { service?: Array<{ name: string }>, file_descriptor_proto?: Buffer[] }>> => {
    const stream = client.ServerReflectionInfo()
    const answer = new Promise<never>((resolve, reject) => { stream.on('data', resolve); stream.on('error', reject) })
    stream.write(request)
    stream.end()
    return await answer
  }
  const listed = await ask({ list_services: '' })
  t.strictSame(listed.list_services_response.service?.map(service => service.name).sort(), ['grpc.health.v1.Health', 'inference.GRPCInferenceService'])
  const described = await ask({ file_containing_symbol: 'inference.GRPCInferenceService' })
  const files = (described.file_descriptor_response.file_descriptor_proto ?? []).map(bytes => FileDescriptorProto.decode(bytes) as IFileDescriptorProto)
  const all = files.flatMap(file => messages(file.messageType))
  t.ok(all.some(message => message.name === 'ModelInferRequest'), 'the service\'s messages are described')
  const entries = all.filter(message => message.options?.mapEntry === true)
  t.ok(entries.length >= 10, `${entries.length} map entry types`)
  t.ok(entries.every(entry => entry.name?.endsWith('Entry') === true), 'each named <Field>Entry, as protoc names them (strict protobuf runtimes refuse others)')
  const request = all.find(message => message.name === 'ModelInferRequest')
  t.equal(request?.field?.find(field => field.name === 'parameters')?.typeName, 'ParametersEntry', 'and the map field refers to it')
})
