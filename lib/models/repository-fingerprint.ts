// What the poll mode compares between scans: for each model folder of the
// repository, one string of the sizes and modification times of its
// config.json and of every file of its version folders. Only directory
// listings and stats (libuv's thread pool), no file is read: a scan of a
// thousand model folders keeps the event loop free.

import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { modelFolders, versionFolders } from './repository'

/** Model folders stat'ed at once: enough to keep the thread pool busy, few enough to bound the promises held. */
const FOLDERS_AT_ONCE = 32

async function fileStamp (path: string): Promise<string> {
  try {
    const info = await stat(path)
    return info.isFile() ? `${info.size}@${info.mtimeMs}` : '-'
  } catch {
    return '-'
  }
}

async function folderFiles (dir: string): Promise<string> {
  try {
    const names = (await readdir(dir)).sort()
    const stamps = await Promise.all(names.map(async name => `${name}:${await fileStamp(join(dir, name))}`))
    return stamps.join(',')
  } catch {
    return '-'
  }
}

/** One model folder's fingerprint; undefined when it is gone. */
async function modelFingerprint (dir: string): Promise<string | undefined> {
  let versions
  try {
    versions = await versionFolders(dir)
  } catch {
    return undefined
  }
  const parts = [`config.json:${await fileStamp(join(dir, 'config.json'))}`]
  for (const version of versions) parts.push(`${version}/[${await folderFiles(join(dir, version))}]`)
  return parts.join('|')
}

/** Every model folder's fingerprint, by name. Throws when the repository itself cannot be listed. */
export async function fingerprintRepository (root: string): Promise<Map<string, string>> {
  const names = await modelFolders(root)
  const fingerprints = new Map<string, string>()
  for (let i = 0; i < names.length; i += FOLDERS_AT_ONCE) {
    const chunk = names.slice(i, i + FOLDERS_AT_ONCE)
    const prints = await Promise.all(chunk.map(async name => await modelFingerprint(join(root, name))))
    chunk.forEach((name, j) => { const print = prints[j]; if (print !== undefined) fingerprints.set(name, print) })
  }
  return fingerprints
}
