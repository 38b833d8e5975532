// Measures onnx-serve against its ceilings, in one run on this machine:
//   - the in-process runtime: onnxruntime-node's session.run in a loop, no HTTP;
//   - a bare Fastify echo server: HTTP + JSON parse + serialize, no inference;
//   - onnx-serve's /predict, /v1 instances and /v2 infer with the bundled iris model.
// Each server is pinned to core 0 and autocannon to core 1 (taskset), so the
// load generator does not steal the server's CPU. Targets only 127.0.0.1.
//
//   npm run bench [-- --seconds 10 --connections 32]

import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createSigner } from 'fast-jwt'
import * as ort from 'onnxruntime-node'
import { DEVELOPMENT_SECRET } from '../lib/auth-key'
import { findProjectRoot } from './build-models'

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    port: { type: 'string', default: '3999' }
  }
})
const seconds = Number(args.seconds)
const connections = Number(args.connections)
const port = Number(args.port)
const root = findProjectRoot(__dirname)
const row = [5.1, 3.5, 1.4, 0.2]
const pinned = availableParallelism() >= 2
// The server runs without a configured key, so it takes development-secret tokens.
const token = createSigner({ key: DEVELOPMENT_SECRET, expiresIn: 3_600_000 })({ sub: 'bench', scope: 'predict' })

function pin (core: number, command: string[]): string[] {
  return pinned ? ['taskset', '-c', String(core), ...command] : command
}

async function inProcessCeiling (): Promise<number> {
  const session = await ort.InferenceSession.create(join(root, 'models', 'iris', '1', 'model.onnx'), { intraOpNumThreads: 1, interOpNumThreads: 1 })
  const features = new ort.Tensor('float32', Float32Array.from(row), [1, 4])
  const until = Date.now() + seconds * 1000
  let runs = 0
  while (Date.now() < until) {
    await session.run({ features })
    runs++
  }
  await session.release()
  return runs / seconds
}

async function startPinned (command: string[], env: Record<string, string>): Promise<ChildProcess> {
  const [file, ...rest] = pin(0, command)
  const child = spawn(file, rest, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', chunk => { if (String(chunk).includes('listening at')) resolve() })
    child.on('exit', code => reject(new Error(`${command.join(' ')} exited with ${code}`)))
  })
  return child
}

async function waitReady (url: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const res = await fetch(url).catch(() => undefined)
    if (res?.status === 200) return
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`${url} never became ready`)
}

interface LoadResult {
  requests: { average: number, total: number }
  latency: { p50: number, p99: number }
  non2xx: number
  errors: number
}

async function load (path: string, body: unknown): Promise<LoadResult> {
  const [file, ...rest] = pin(1, [process.execPath, require.resolve('autocannon/autocannon.js'),
    '-j', '-c', String(connections), '-d', String(seconds), '-m', 'POST',
    '-H', 'content-type=application/json', '-H', `authorization=Bearer ${token}`, '-b', JSON.stringify(body), `http://127.0.0.1:${port}${path}`])
  const child = spawn(file, rest, { stdio: ['ignore', 'pipe', 'ignore'] })
  let out = ''
  child.stdout.on('data', chunk => { out += String(chunk) })
  await once(child, 'exit')
  return JSON.parse(out) as LoadResult
}

async function stop (child: ChildProcess): Promise<void> {
  child.kill('SIGTERM')
  if (child.exitCode === null) await once(child, 'exit')
}

async function main (): Promise<void> {
  const results: Record<string, { rps: number, p50?: number, p99?: number, failed?: number }> = {}
  results['in-process session.run'] = { rps: await inProcessCeiling() }

  const echo = await startPinned([process.execPath, join(root, 'dist', 'scripts', 'echo-server.js')], { PORT: String(port) })
  const echoLoad = await load('/echo', { input_data: row })
  await stop(echo)
  results['fastify echo'] = { rps: echoLoad.requests.average, p50: echoLoad.latency.p50, p99: echoLoad.latency.p99, failed: echoLoad.non2xx + echoLoad.errors }

  const server = await startPinned([process.execPath, join(root, 'dist', 'server.js')], {
    PORT: String(port), MODEL_REPOSITORY: join(root, 'models'), INFERENCE_THREADS: '1', LOG_LEVEL: 'info', RATE_LIMIT_MAX: '10000000'
  })
  await waitReady(`http://127.0.0.1:${port}/health/ready`)
  for (const [name, path, body] of [
    ['onnx-serve /predict', '/predict', { input_data: row }],
    ['onnx-serve /v1 instances', '/v1/models/iris/predict', { instances: [row] }],
    ['onnx-serve /v2 infer (JSON)', '/v2/models/iris/infer', { inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: row }] }]
  ] as const) {
    const result = await load(path, body)
    results[name] = { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, failed: result.non2xx + result.errors }
  }
  await stop(server)

  const echoRps = results['fastify echo'].rps
  const runtimeRps = results['in-process session.run'].rps
  process.stdout.write(`onnx-serve bench: ${seconds}s per run, ${connections} connections, server on core 0, load on core 1${pinned ? '' : ' (not pinned: one core)'}\n\n`)
  process.stdout.write('| run | req/s | p50 ms | p99 ms | failed | vs echo | vs in-process |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n')
  for (const [name, r] of Object.entries(results)) {
    process.stdout.write(`| ${name} | ${r.rps.toFixed(0)} | ${r.p50 ?? '-'} | ${r.p99 ?? '-'} | ${r.failed ?? '-'} | ${(r.rps / echoRps).toFixed(2)} | ${(r.rps / runtimeRps).toFixed(2)} |\n`)
  }
}

main().catch(error => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`)
  process.exit(1)
})
