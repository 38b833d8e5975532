import type { IncomingMessage } from 'node:http'

/**
 * Whether some of the request's body is still to come. Answering it now
 * would leave the rest on the wire, and Node would read (and drop) all of it
 * to keep the connection: an unbounded upload after the answer. A bodiless
 * request is not `complete` while its headers are being handled either, hence
 * the look at the framing headers. app.inject's requests have no `complete`.
 */
export function bodyPending (request: IncomingMessage): boolean {
  if (request.complete !== false) return false
  return request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0
}
