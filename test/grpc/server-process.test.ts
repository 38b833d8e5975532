// The gRPC service in a real server process: graceful drain on SIGTERM
// with a stream open, and WORKERS > 1 sharing the port.

import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { status, type ServiceError } from '@grpc/grpc-js'
import { freePort } from '../../scripts/free-port'
import { bundledRepository } from '../helpers/build-app'
import { inferenceClient, metadataFor } from '../helpers/grpc-client'
import { startServer, waitReady } from '../helpers/server-process'

const setosa = [5.1, 3.5, 1.4, 0.2]
const request = (id: string) => ({
  model_name: 'iris',
  id,
  inputs: [{ name: 'features', datatype: 'FP32', shape: ['1', '4'] }],
  raw_input_contents: [Buffer.from(new Float32Array(setosa).buffer)]
})

type Stream = NodeJS.ReadWriteStream & { write: (message: unknown) => boolean, end: () => void }

/** Calls ServerLive until the gRPC port answers (it binds just after HTTP). */
async function waitGrpc (client: ReturnType<typeof inferenceClient>): Promise<void> {
  const until = Date.now() + 20_000
  while (Date.now() < until) {
    if ((await client.call('ServerLive', {}, { token: null, deadlineMs: 1000 })).error === undefined) return
    await sleep(50)
  }
  throw new Error('the gRPC port never answered')
}

t.test('SIGTERM with a stream open: new calls refused, the stream finishes, exit 0', async t => {
  const port = await freePort()
  const server = await startServer(t, { MODEL_REPOSITORY: bundledRepository, GRPC_PORT: String(port), INFERENCE_THREADS: '1', SHUTDOWN_DELAY_MS: '300' })
  await waitReady(server.url)
  const client = inferenceClient(`127.0.0.1:${port}`)
  t.teardown(() => client.client.close())
  await waitGrpc(client)

  const stream = (client.client as unknown as Record<string, (metadata: unknown) => Stream>).ModelStreamInfer.call(client.client, metadataFor(undefined))
  const answers: Array<{ error_message?: string, infer_response?: { id: string } }> = []
  stream.on('data', (message: typeof answers[number]) => { answers.push(message) })
  const ended = new Promise<{ code: number }>((resolve, reject) => {
    stream.on('status', resolve)
    stream.on('error', reject)
  })
  for (let i = 0; i < 5; i++) stream.write(request(`before-${i}`))
  while (answers.length < 5) await sleep(10)

  server.child.kill('SIGTERM')
  await sleep(150)
  const refused = await client.call('ModelInfer', request('new'))
  t.equal(refused.error?.code, status.UNAVAILABLE, `a new call while draining: UNAVAILABLE (${refused.error?.details ?? ''})`)
  for (let i = 0; i < 5; i++) stream.write(request(`after-${i}`))
  while (answers.length < 10) await sleep(10)
  stream.end()
  t.equal((await ended).code, status.OK, 'the open stream ends OK')
  t.strictSame(answers.map(answer => answer.infer_response?.id), [0, 1, 2, 3, 4].map(i => `before-${i}`).concat([0, 1, 2, 3, 4].map(i => `after-${i}`)), 'every message answered, those sent after SIGTERM too')
  t.ok(answers.every(answer => (answer.error_message ?? '') === ''), 'without errors')
  t.equal(await server.exited, 0, 'then the process exits 0')
})

t.test('WORKERS=2: both processes serve the one gRPC port', async t => {
  const [httpPort, grpcPort] = [await freePort(), await freePort()]
  const server = await startServer(t, { WORKERS: '2', HOST: '127.0.0.1', PORT: String(httpPort), GRPC_PORT: String(grpcPort), MODEL_REPOSITORY: bundledRepository, INFERENCE_THREADS: '1' })
  await waitReady(server.url)
  const pids = new Set<number>()
  const failures: ServiceError[] = []
  const until = Date.now() + 20_000
  // Each new channel is a new connection, which the cluster hands to either process.
  while (pids.size < 2 && Date.now() < until) {
    const client = inferenceClient(`127.0.0.1:${grpcPort}`)
    const { error } = await client.call('ModelInfer', request('w'), { metadata: { 'x-request-id': `w-${Date.now()}` } })
    client.client.close()
    if (error !== undefined) {
      if (error.code !== status.UNAVAILABLE) failures.push(error)
      await sleep(50)
      continue
    }
    // The request log line names the process that served it.
    await sleep(1100)
    for (const entry of server.logs) if (entry.grpc !== undefined && typeof entry.pid === 'number') pids.add(entry.pid)
  }
  t.strictSame(failures, [], 'no call failed')
  t.equal(pids.size, 2, `calls served by ${pids.size} processes`)
  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0)
})
