import { stat } from 'node:fs/promises'

/** What tells one file's bytes from another's without reading them: device, inode, size, change time. */
export async function fileIdentity (path: string): Promise<string> {
  const info = await stat(path, { bigint: true })
  return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`
}

/** Whether every file still has the identity it had: none changed or went away since. */
export async function unchanged (files: Iterable<{ path: string, identity: string }>): Promise<boolean> {
  const now = await Promise.all([...files].map(async ({ path, identity }) => await fileIdentity(path).catch(() => '') === identity))
  return now.every(Boolean)
}
