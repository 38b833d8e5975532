// Reading HTTP responses off raw sockets, for tests that must control the
// bytes on the wire (dripped headers, bombs, uploads cut short).

export interface RawResponse {
  statusCode: number
  headers: Record<string, string>
  body: string
}

/** The first response in `text` once it is complete (headers and Content-Length bytes of body). */
export function parseResponse (text: string): RawResponse | undefined {
  const split = text.indexOf('\r\n\r\n')
  if (split < 0) return undefined
  const [statusLine, ...lines] = text.slice(0, split).split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  const length = Number(headers['content-length'] ?? 0)
  const body = text.slice(split + 4)
  if (body.length < length) return undefined
  return { statusCode: Number(statusLine.split(' ')[1]), headers, body: body.slice(0, length) }
}
