// Reads a Triton-layout model repository: models/<name>/[config.json] and
// models/<name>/<version>/model.onnx. Nothing here loads a session; it says
// what is there and what is wrong with it, model by model. What is wrong is
// told as clients see it: paths relative to the repository, never the
// server's own (those belong in its log).

import type { Dirent } from 'node:fs'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join, posix } from 'node:path'
import type { TSchema } from '@sinclair/typebox'
import { Value, ValueErrorType } from '@sinclair/typebox/value'
import { ModelConfigSchema, type ModelConfig } from './model-config'
import { MODEL_NAME_PATTERN, MODEL_VERSION_PATTERN } from './names'

export const MODEL_FILE = 'model.onnx'

const MODEL_NAME = new RegExp(MODEL_NAME_PATTERN)
const VERSION_FOLDER = new RegExp(MODEL_VERSION_PATTERN)

export function isValidModelName (name: string): boolean {
  return MODEL_NAME.test(name)
}

export interface ModelSource {
  name: string
  dir: string
  config: ModelConfig
  /** Every version folder found, ascending. */
  versions: number[]
  /** The versions the version policy serves, ascending. */
  served: number[]
  /** Why the model cannot be served at all, with the fix. */
  error?: string
}

export function modelPath (source: ModelSource, version: number): string {
  return join(source.dir, String(version), MODEL_FILE)
}

/** A path inside the repository as a client is shown it: relative to the repository, with '/'. */
export function shownPath (...segments: string[]): string {
  return posix.join(...segments)
}

/**
 * A file system error's message without the path it names
 * ("ENOENT: no such file or directory, scandir '/srv/models'" →
 * "ENOENT: no such file or directory"): the caller says which file it was.
 */
export function withoutPath (error: unknown): string {
  const { message, syscall, path } = error as NodeJS.ErrnoException
  if (path === undefined) return message
  const at = syscall === undefined ? -1 : message.indexOf(`, ${syscall} '`)
  // Whatever the message's shape, the path itself never stays in it.
  return (at === -1 ? message : message.slice(0, at)).split(path).join('the file')
}

/** Why the repository could not be listed, without its path (the log line of the failure has it). */
export function unreadableRepository (error: unknown): string {
  return `cannot read the model repository: ${withoutPath(error)}; make MODEL_REPOSITORY a readable folder (the server log names the folder)`
}

function describeMember (schema: TSchema): string {
  if ('const' in schema) return JSON.stringify(schema.const)
  if (schema.type === 'array') return `a ${schema.minItems > 0 ? 'non-empty ' : ''}list of ${(schema.items as TSchema).type}s`
  if (schema.type === 'object') {
    const fields = Object.entries(schema.properties as Record<string, TSchema>).map(([key, field]) => `"${key}": ${describeMember(field)}`)
    return `{${fields.join(', ')}}`
  }
  if (schema.type === 'integer') return 'an integer'
  return String(schema.type)
}

function pointerSegments (pointer: string): string[] {
  return pointer.split('/').slice(1).map(segment => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
}

/** A JSON pointer as a person reads it: /warmup/0/inputs/x → warmup[0].inputs.x. */
function configPath (pointer: string): string {
  return pointerSegments(pointer)
    .map((segment, i) => /^\d+$/.test(segment) ? `[${segment}]` : i === 0 ? segment : `.${segment}`)
    .join('')
}

/** The first problem of a config.json, as one line a person can act on. */
function describeConfigError (value: unknown): string | undefined {
  const error = Value.Errors(ModelConfigSchema, value).First()
  if (error === undefined) return undefined
  const where = error.path === '' ? 'the file' : configPath(error.path)
  if (error.type === ValueErrorType.ObjectAdditionalProperties) {
    // The error's schema is the object holding the unknown key.
    const key = pointerSegments(error.path).at(-1) ?? where
    return `unknown key '${key}'; allowed keys: ${Object.keys(error.schema.properties as object).join(', ')}`
  }
  if (error.type === ValueErrorType.Union) {
    // TypeBox only says "expected union value": list what is accepted instead.
    const received = JSON.stringify(error.value) ?? String(error.value)
    return `${where}: expected ${(error.schema.anyOf as TSchema[]).map(describeMember).join(' or ')}, received ${received.length > 60 ? `${received.slice(0, 57)}...` : received}`
  }
  return `${where}: ${error.message.toLowerCase()}`
}

async function readConfig (dir: string): Promise<{ config: ModelConfig, error?: string }> {
  let text: string
  try {
    text = await readFile(join(dir, 'config.json'), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { config: {} }
    // Reported like any other config problem: one model's fault must not stop the scan.
    return { config: {}, error: `config.json cannot be read (${withoutPath(err)}); make it a readable file or remove it` }
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    return { config: {}, error: `config.json is not valid JSON (${(err as Error).message}); fix the file or remove it` }
  }
  const problem = describeConfigError(parsed)
  if (problem !== undefined) return { config: {}, error: `config.json: ${problem}` }
  return { config: parsed as ModelConfig }
}

// Kubernetes mounts volumes through symlinks: follow them, as stat does.
async function isDirectory (entry: Dirent, dir: string): Promise<boolean> {
  if (entry.isDirectory()) return true
  if (!entry.isSymbolicLink()) return false
  try {
    return (await stat(join(dir, entry.name))).isDirectory()
  } catch {
    return false
  }
}

async function hasFile (path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch {
    return false
  }
}

/** How many of the newest versions a `latest` policy serves (`"latest"`: 1); only for latest policies. */
export function newestCount (policy: ModelConfig['version_policy']): number {
  return typeof policy === 'object' && !Array.isArray(policy) ? policy.latest : 1
}

function applyVersionPolicy (versions: number[], policy: ModelConfig['version_policy']): number[] {
  if (policy === 'all') return versions
  if (Array.isArray(policy)) return versions.filter(version => policy.includes(version))
  return versions.slice(-newestCount(policy))
}

/** Reads one model's folder. Errors are reported in the result, not thrown. */
export async function readModelSource (root: string, name: string): Promise<ModelSource> {
  const dir = join(root, name)
  const { config, error } = await readConfig(dir)
  const source: ModelSource = { name, dir, config, versions: [], served: [], error }
  for (const version of await versionFolders(dir)) {
    if (await hasFile(join(dir, version, MODEL_FILE))) source.versions.push(Number(version))
  }
  source.served = applyVersionPolicy(source.versions, config.version_policy)
  if (source.error === undefined && source.versions.length === 0) {
    source.error = `no version found; put the model at ${shownPath(name, '1', MODEL_FILE)}`
  } else if (source.error === undefined && source.served.length === 0) {
    source.error = `version_policy ${JSON.stringify(config.version_policy)} matches none of the versions found (${source.versions.join(', ')})`
  }
  return source
}

/** The names of a repository's model folders (links followed), sorted. Throws when it cannot be listed. */
export async function modelFolders (root: string): Promise<string[]> {
  const names: string[] = []
  for (const entry of await readdir(root, { withFileTypes: true })) {
    if (isValidModelName(entry.name) && await isDirectory(entry, root)) names.push(entry.name)
  }
  return names.sort()
}

/** The names of a model folder's version folders (links followed), in ascending version order. */
export async function versionFolders (dir: string): Promise<string[]> {
  const names: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    // Triton ignores non-numeric folders; so do we (notes, exports, …).
    if (VERSION_FOLDER.test(entry.name) && await isDirectory(entry, dir)) names.push(entry.name)
  }
  return names.sort((a, b) => Number(a) - Number(b))
}

/** Every model folder of the repository, sorted by name. */
export async function scanModelRepository (root: string): Promise<ModelSource[]> {
  return Promise.all((await modelFolders(root)).map(name => readModelSource(root, name)))
}
