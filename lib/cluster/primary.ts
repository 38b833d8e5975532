// The primary process of WORKERS > 1: it forks the server processes, which
// share the port, replaces those that die (lib/cluster/restart-policy), and
// on SIGTERM or SIGINT passes the signal on and exits once every server has
// drained. It serves nothing itself, but keeps the quota counters of the
// whole group (lib/quota/primary-counts).

import cluster, { type Worker } from 'node:cluster'
import type { Logger } from 'pino'
import { answerCounts, PRIMARY_COUNTS_ENV } from '../quota/primary-counts'
import type { QuotaTables } from '../quota/window-counters'
import { RestartPolicy } from './restart-policy'

export function runPrimary (servers: number, log: Logger, quotas: QuotaTables, policy = new RestartPolicy()): void {
  const startedAt = new Map<number, number>()
  /** When each server process began to listen: one that never did was failing, however long its start took. */
  const listeningAt = new Map<number, number>()
  let stopping = false
  let exitCode = 0
  const alive = (): Worker[] => Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined)
  const fork = (): void => {
    const worker = cluster.fork({ [PRIMARY_COUNTS_ENV]: '1' })
    startedAt.set(worker.id, Date.now())
  }
  const stopAll = (signal: NodeJS.Signals): void => {
    stopping = true
    const running = alive()
    if (running.length === 0) process.exit(exitCode)
    for (const worker of running) worker.process.kill(signal)
  }

  cluster.on('listening', worker => { if (!listeningAt.has(worker.id)) listeningAt.set(worker.id, Date.now()) })
  cluster.on('exit', (worker, code, signal) => {
    const now = Date.now()
    const uptimeMs = now - (startedAt.get(worker.id) ?? now)
    const servedMs = now - (listeningAt.get(worker.id) ?? now)
    startedAt.delete(worker.id)
    listeningAt.delete(worker.id)
    if (stopping) {
      if (alive().length === 0) process.exit(exitCode)
      return
    }
    const facts = { serverPid: worker.process.pid, code, signal, uptimeMs, servedMs }
    const decision = policy.onUnexpectedExit(servedMs)
    if (!decision.restart) {
      log.fatal({ ...facts, earlyExits: decision.earlyExits }, `server processes died ${decision.earlyExits} times in a row within seconds of starting; giving up`)
      exitCode = 1
      stopAll('SIGTERM')
      return
    }
    log.error({ ...facts, restartInMs: decision.delayMs }, 'a server process exited unexpectedly; starting another')
    // Not unref'ed: with every server dead, this timer is what keeps the primary up.
    setTimeout(() => { if (!stopping) fork() }, decision.delayMs)
  })
  answerCounts(quotas)
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => stopAll(signal))
  for (let i = 0; i < servers; i++) fork()
}
