// Letting go of a gRPC call once its HTTP/2 stream has closed: the stream's
// listeners are removed, so nothing of the call stays reachable from the
// stream object.
//
// Why: Node keeps a closed stream's JavaScript object referenced from native
// code until a full (mark-compact) collection, and V8's scavenges count such
// a reference as a root. Everything the stream's listeners reach (grpc-js's
// call, the decoded message, our context, the tensors, the answer) then
// survives each scavenge while it waits, is promoted to the old space, and
// is freed only by the next full collection, which V8 puts off as the old
// space grows. Measured with the bench's small model, 10 calls in flight,
// server on one core: 1.5-2 MB promoted per scavenge without the release
// against 0.5 with it, scavenges of 9 ms against 3.5, peak RSS 266 MB
// against 226. HTTP/1 has no object per request to hold on to like this.
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
