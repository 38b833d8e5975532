// Letting go of a gRPC call once its HTTP/2 stream has closed: the stream's
// listeners are removed, so nothing of the call stays reachable from the
// stream object.
//
// Why: whatever a closed node:http2 stream still references survives V8's
// scavenges until the next full (mark-compact) collection, as if the stream
// were a root (Node holds the stream object from native code; seen with a
// bare node:http2 server: 400 small objects hung on each stream took its
// scavenges from 4 to 45 ms and its full collections from 6 to 20 in 8 s,
// unless dropped on 'close'). Through grpc-js's listeners, that is the whole
// call: grpc-js's call objects, the decoded message, our context, the
// tensors, the answer; all promoted to the old space, which V8 lets grow
// before it collects. Measured with the bench's small model, 10 calls in
// flight, server on one core: 1.5-2 MB promoted per scavenge without the
// release against 0.5 with it, scavenges of 9 ms against 3.5, peak RSS 266
// MB against 226. HTTP/1 has no object per request held like this.
//
// grpc-js hands the first interceptor its own call object, whose `stream` is
// the HTTP/2 stream (grpc-js 1.14; not part of its typed API): the first
// interceptor (grpc/early-refusal) passes it here. Without one, as with
// another grpc-js, nothing is done.

/** What the release needs of an HTTP/2 stream. */
interface ClosableStream {
  once: (event: 'close', listener: () => void) => unknown
  on: (event: 'error', listener: () => void) => unknown
  removeAllListeners: () => unknown
}

function isClosableStream (value: unknown): value is ClosableStream {
  const stream = value as Partial<ClosableStream> | null | undefined
  return typeof stream?.once === 'function' && typeof stream.on === 'function' && typeof stream.removeAllListeners === 'function'
}

// grpc-js keeps an 'error' listener on every stream so that a late error is
// not thrown; one shared function takes its place, holding nothing.
const ignore = (): void => {}

/** The HTTP/2 stream under a call, when grpc-js's call object shows it. */
export function streamOf (call: unknown): ClosableStream | undefined {
  const stream = (call as { stream?: unknown } | null | undefined)?.stream
  return isClosableStream(stream) ? stream : undefined
}

/** Removes the listeners of `call`'s stream when it closes; `call`: grpc-js's own call object, as the first interceptor gets it. */
export function releaseWhenClosed (call: unknown): void {
  const stream = streamOf(call)
  // 'close' is the stream's last event: grpc-js's own close handler, added
  // when the call was made, has run by then.
  stream?.once('close', () => {
    stream.removeAllListeners()
    stream.on('error', ignore)
  })
}
