// When WORKERS > 1 the primary replaces every server process that exits
// while it is not shutting down, as gunicorn's master does: whatever the
// cause (an exit code, the OOM killer's SIGKILL, an abort). A process that
// dies before it listened, or soon after, is failing, not unlucky (how long
// its start took does not count: that varies with the machine and the
// models): each such death in a row doubles the wait before the next start,
// and past a limit the primary gives up and exits non-zero, so the
// orchestrator sees a failed pod instead of a process group that restarts
// forever.

export interface RestartPolicyOptions {
  /** A process that served (listened) at least this long was healthy: its death restarts at once and resets the count. */
  minUptimeMs: number
  /** The wait after the first early death; doubled for each one after it. */
  baseDelayMs: number
  maxDelayMs: number
  /** Early deaths in a row after which the primary gives up. */
  maxEarlyExits: number
}

export const defaultRestartPolicy: RestartPolicyOptions = { minUptimeMs: 10_000, baseDelayMs: 250, maxDelayMs: 8_000, maxEarlyExits: 5 }

export type RestartDecision = { restart: true, delayMs: number, earlyExits: number } | { restart: false, earlyExits: number }

export class RestartPolicy {
  #earlyExits = 0

  constructor (private readonly options: RestartPolicyOptions = defaultRestartPolicy) {}

  /** What to do after a server process that served (listened) for `servedMs` exited unexpectedly (0: it never listened). */
  onUnexpectedExit (servedMs: number): RestartDecision {
    if (servedMs >= this.options.minUptimeMs) {
      this.#earlyExits = 0
      return { restart: true, delayMs: 0, earlyExits: 0 }
    }
    this.#earlyExits++
    if (this.#earlyExits >= this.options.maxEarlyExits) return { restart: false, earlyExits: this.#earlyExits }
    const delayMs = Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** (this.#earlyExits - 1))
    return { restart: true, delayMs, earlyExits: this.#earlyExits }
  }
}
