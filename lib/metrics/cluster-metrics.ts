// With WORKERS > 1 the server processes share a port, so successive scrapes
// land on different processes. A scrape of any of them answers for all:
// the process asks the primary, which gathers every process's registry with
// prom-client's AggregatorRegistry (counters and histograms summed, gauges
// as each declares) and sends the text back.

import cluster from 'node:cluster'
import { randomUUID } from 'node:crypto'
import { AggregatorRegistry, type Registry } from 'prom-client'

const REQUEST = 'onnx-serve:metrics-request'
const REPLY = 'onnx-serve:metrics-reply'
/** prom-client's own deadline for the processes' answers is 5 s; ours waits a little longer. */
const TIMEOUT_MS = 6000

interface MetricsRequest {
  type: typeof REQUEST
  id: string
}

interface MetricsReply {
  type: typeof REPLY
  id: string
  text?: string
  error?: string
}

/** In the primary: answers the server processes' requests for the whole group's metrics. */
export function aggregateForWorkers (): void {
  const aggregator = new AggregatorRegistry()
  cluster.on('message', (worker, message: MetricsRequest) => {
    if (message?.type !== REQUEST) return
    aggregator.clusterMetrics().then(
      text => worker.send({ type: REPLY, id: message.id, text } satisfies MetricsReply),
      (error: Error) => worker.send({ type: REPLY, id: message.id, error: error.message } satisfies MetricsReply)
    )
  })
}

/**
 * In a server process: `registry` is what this process reports to the
 * primary; the returned function renders the whole group's metrics.
 */
export function clusterRenderer (registry: Registry): () => Promise<string> {
  AggregatorRegistry.setRegistries([registry])
  // Constructing one is what makes prom-client answer the primary's requests in a worker.
  new AggregatorRegistry() // eslint-disable-line no-new
  return async () => await new Promise<string>((resolve, reject) => {
    const id = randomUUID()
    const timer = setTimeout(() => {
      process.off('message', onReply)
      reject(new Error(`the primary process did not answer for the metrics within ${TIMEOUT_MS} ms`))
    }, TIMEOUT_MS)
    const onReply = (message: MetricsReply): void => {
      if (message?.type !== REPLY || message.id !== id) return
      clearTimeout(timer)
      process.off('message', onReply)
      if (message.text !== undefined) resolve(message.text)
      else reject(new Error(`the metrics of the process group could not be gathered: ${message.error ?? 'no answer'}`))
    }
    process.on('message', onReply)
    process.send?.({ type: REQUEST, id } satisfies MetricsRequest)
  })
}
