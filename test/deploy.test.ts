// deploy/: every manifest parses, and what it says of the server agrees with
// the server: variable names and values its configuration accepts, ports,
// probe paths that exist, a grace period that covers the drain, and the
// pieces a production deployment needs.

import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { loadConfig } from '../lib/config/config'
import { EnvSchema } from '../lib/config/env'

const dir = join(__dirname, '..', 'deploy')

interface Probe { httpGet?: { path: string, port: number }, grpc?: { port: number } }
interface Container {
  name: string
  env?: Array<{ name: string, value?: string, valueFrom?: unknown }>
  ports?: Array<{ containerPort: number }>
  resources?: { requests?: Record<string, string>, limits?: Record<string, string> }
  securityContext?: { readOnlyRootFilesystem?: boolean, allowPrivilegeEscalation?: boolean, runAsNonRoot?: boolean }
  startupProbe?: Probe
  livenessProbe?: Probe
  readinessProbe?: Probe
  lifecycle?: { preStop?: { exec?: { command: string[] } } }
}
interface Manifest {
  apiVersion: string
  kind: string
  metadata: { name: string }
  spec: Record<string, unknown>
}

const manifests: Array<{ file: string, doc: Manifest }> = readdirSync(dir).filter(file => file.endsWith('.yaml')).flatMap(file =>
  parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map(document => {
    if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0].message}`)
    return { file, doc: document.toJS() as Manifest }
  }))

const find = (kind: string, name?: string): Manifest => {
  const found = manifests.find(({ doc }) => doc.kind === kind && (name === undefined || doc.metadata.name === name))
  if (found === undefined) throw new Error(`no ${kind} ${name ?? ''} in deploy/`)
  return found.doc
}

/** The container's environment as the server would read it (secrets stand in as valid values). */
function environment (container: Container): Record<string, string> {
  const env: Record<string, string> = {}
  for (const variable of container.env ?? []) env[variable.name] = variable.value ?? (variable.name === 'JWT_SECRET' ? 'x'.repeat(32) : '')
  return env
}

const HEALTH_PATHS = ['/health/live', '/health/ready', '/v2/health/live', '/v2/health/ready']

function checkServerContainer (t: tap.Test, where: string, container: Container): Record<string, string> {
  const env = environment(container)
  for (const name of Object.keys(env)) t.ok(name in EnvSchema.properties, `${where}: ${name} is a variable the server reads`)
  t.doesNotThrow(() => loadConfig(env), `${where}: the server accepts its environment`)
  const port = Number(env.PORT ?? 3000)
  const grpcPort = loadConfig(env).grpcPort
  t.strictSame(container.ports?.map(p => p.containerPort), [port, grpcPort], `${where}: the container ports are the server's PORT (${port}) and GRPC_PORT (${grpcPort})`)
  for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
    const { httpGet: http, grpc } = container[probe] ?? {}
    t.ok(http !== undefined || grpc !== undefined, `${where}: a ${probe}`)
    if (grpc !== undefined) {
      // Kubernetes' gRPC probe asks grpc.health.v1, which follows readiness.
      t.equal(grpc.port, grpcPort, `${where}: ${probe} on the gRPC port`)
      continue
    }
    t.ok(HEALTH_PATHS.includes(http?.path ?? ''), `${where}: ${probe} on ${http?.path}`)
    t.equal(http?.port, port, `${where}: ${probe} on the server's port`)
  }
  const readiness = container.readinessProbe
  t.ok(readiness?.grpc !== undefined || /ready$/.test(readiness?.httpGet?.path ?? ''), `${where}: readiness probes readiness`)
  t.ok(container.resources?.requests?.cpu !== undefined && container.resources?.requests?.memory !== undefined, `${where}: requests`)
  t.ok(container.resources?.limits?.cpu !== undefined && container.resources?.limits?.memory !== undefined, `${where}: limits`)
  t.equal(container.securityContext?.readOnlyRootFilesystem, true, `${where}: read-only root file system`)
  t.equal(container.securityContext?.allowPrivilegeEscalation, false, `${where}: no privilege escalation`)
  return env
}

/** Seconds the server may take to drain after SIGTERM (server.ts: close-with-grace's delay). */
function drainSeconds (env: Record<string, string>): number {
  const config = loadConfig(env)
  return (config.shutdownDelayMs + config.inferenceTimeoutMs + 5000) / 1000
}

t.test('every manifest parses', async t => {
  t.ok(manifests.length >= 8, `${manifests.length} documents`)
  for (const { file, doc } of manifests) t.ok(doc.apiVersion !== undefined && doc.kind !== undefined && doc.metadata?.name !== undefined, `${file}: ${doc.kind} ${doc.metadata?.name}`)
})

t.test('the Deployment agrees with the server and is production-ready', async t => {
  const deployment = find('Deployment', 'onnx-serve')
  const pod = deployment.spec.template as { metadata: { annotations: Record<string, string>, labels: Record<string, string> }, spec: Record<string, unknown> }
  const container = (pod.spec.containers as Container[])[0]
  const env = checkServerContainer(t, 'Deployment', container)
  t.equal(env.MODEL_REPOSITORY, '/models')
  const mounts = (container as { volumeMounts?: Array<{ mountPath: string, readOnly?: boolean, name: string }> }).volumeMounts ?? []
  const models = mounts.find(mount => mount.mountPath === env.MODEL_REPOSITORY)
  t.equal(models?.readOnly, true, 'the model repository is a read-only volume')
  t.ok((pod.spec.volumes as Array<{ name: string }>).some(volume => volume.name === models?.name), 'declared in the pod')
  t.equal((pod.spec.securityContext as { runAsNonRoot?: boolean }).runAsNonRoot, true, 'runs as non-root')
  t.equal(pod.metadata.annotations['prometheus.io/scrape'], 'true')
  t.equal(pod.metadata.annotations['prometheus.io/path'], '/metrics')
  t.equal(Number(pod.metadata.annotations['prometheus.io/port']), Number(env.PORT ?? 3000))
  const preStop = Number(container.lifecycle?.preStop?.exec?.command.at(-1) ?? 0)
  const grace = pod.spec.terminationGracePeriodSeconds as number
  t.ok(grace >= preStop + drainSeconds(env), `grace ${grace} s covers preStop ${preStop} s + the drain ${drainSeconds(env)} s`)
  t.ok(env.REDIS_URL !== undefined, 'pods share Redis')
  t.ok(find('Service', 'onnx-serve-redis'), 'a Redis the URL points at')

  const hpa = find('HorizontalPodAutoscaler')
  t.strictSame((hpa.spec.scaleTargetRef as { name: string }).name, 'onnx-serve', 'the HPA scales the Deployment')
  const pdb = find('PodDisruptionBudget')
  t.strictSame((pdb.spec.selector as { matchLabels: Record<string, string> }).matchLabels, (deployment.spec.selector as { matchLabels: Record<string, string> }).matchLabels, 'the PDB covers its pods')
  const service = find('Service', 'onnx-serve')
  t.strictSame((service.spec.ports as Array<{ targetPort: number }>).map(port => port.targetPort), [Number(env.PORT ?? 3000), loadConfig(env).grpcPort], 'the Service targets the server\'s HTTP and gRPC ports')
})

t.test('the KServe ServingRuntime agrees with the server; its grace is on the InferenceService', async t => {
  const runtime = find('ServingRuntime')
  const container = (runtime.spec.containers as Container[])[0]
  const env = checkServerContainer(t, 'ServingRuntime', container)
  t.equal(env.MODEL_REPOSITORY, '/mnt/models', 'where KServe\'s storage initializer puts the model')
  const isvc = find('InferenceService')
  const predictor = isvc.spec.predictor as { terminationGracePeriodSeconds: number, model: { runtime: string } }
  t.equal(predictor.model.runtime, runtime.metadata.name)
  t.ok(predictor.terminationGracePeriodSeconds >= drainSeconds(env), `grace ${predictor.terminationGracePeriodSeconds} s covers the drain ${drainSeconds(env)} s`)
})
