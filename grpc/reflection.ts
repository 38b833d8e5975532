// Server reflection (@grpc/reflection) over the service's package
// definition, with its map fields described as protobuf's own compiler
// describes them. proto-loader's descriptors (protobufjs's ext/descriptor)
// name a map field's entry type after the field ("Parameters") where
// protoc names it "<Field>Entry" ("ParametersEntry"); Python's and Go's
// protobuf refuse such a descriptor ("map_entry should not be set
// explicitly"), so a grpcurl-style client could list the service but not
// describe or call it.

import type { AnyDefinition, PackageDefinition, ProtobufTypeDefinition } from '@grpc/proto-loader'
import { FileDescriptorProto, type IDescriptorProto, type IFileDescriptorProto } from 'protobufjs/ext/descriptor'

/** protoc's name for a map field's entry type: foo_bar → FooBarEntry. */
function entryName (field: string): string {
  return `${field.split('_').map(part => part.charAt(0).toUpperCase() + part.slice(1)).join('')}Entry`
}

/** Renames the map entry types of `message` and those nested in it, and the fields that use them. */
function renameMapEntries (message: IDescriptorProto): void {
  const nested = message.nestedType ?? []
  for (const entry of nested) {
    if (entry.options?.mapEntry !== true || entry.name === undefined || entry.name === null) continue
    const field = (message.field ?? []).find(candidate => candidate.typeName === entry.name || candidate.typeName?.endsWith(`.${entry.name as string}`) === true)
    if (field?.name === undefined || field.name === null) continue
    const renamed = entryName(field.name)
    field.typeName = (field.typeName as string).slice(0, -(entry.name).length) + renamed
    entry.name = renamed
  }
  for (const inner of nested) renameMapEntries(inner)
}

/** `definition` with every file's map entry types named as protoc names them, for @grpc/reflection. */
export function reflectableDefinition (definition: PackageDefinition): PackageDefinition {
  const fixed = new Map<Buffer, Buffer>()
  const fix = (bytes: Buffer): Buffer => {
    let done = fixed.get(bytes)
    if (done === undefined) {
      const file = FileDescriptorProto.decode(bytes) as IFileDescriptorProto
      for (const message of file.messageType ?? []) renameMapEntries(message)
      done = Buffer.from(FileDescriptorProto.encode(file).finish())
      fixed.set(bytes, done)
    }
    return done
  }
  const described = (entry: AnyDefinition): entry is AnyDefinition & ProtobufTypeDefinition => Array.isArray((entry as Partial<ProtobufTypeDefinition>).fileDescriptorProtos)
  const result: PackageDefinition = {}
  for (const [name, entry] of Object.entries(definition)) {
    result[name] = described(entry) ? { ...entry, fileDescriptorProtos: entry.fileDescriptorProtos.map(fix) } as typeof entry : entry
  }
  return result
}
