// Unbatched runs (models without dynamic batching) that arrive in the same
// turn of the event loop start back to back at the end of that turn, in one
// setImmediate, rather than each as soon as its request is parsed. Each
// request still runs alone: no request ever sees another's rows. What
// changes is when: runs on the main thread then finish together, and so do
// their responses, which leave in one burst of writes. On loopback a client
// asleep between responses is woken once for the burst instead of once a
// response, and the runs follow each other with the runtime's memory still
// in cache: the bench's digits MLP without dynamic batching took 61–66 µs
// of CPU a request at 10 connections this way, against 105–123 started one
// by one.
//
// With one request a turn (one client, one at a time) there is nothing to
// gather and the wait only delays the answer (14 µs more CPU a request, and
// 7% fewer requests a second, at one connection), so the group starts runs
// at once until a turn starts more than one, and goes back to starting at
// once after SINGLE_TURNS_TO_START_AT_ONCE turns of one request in a row.

/** Turns of a single request in a row after which a gathering group starts runs at once again. */
export const SINGLE_TURNS_TO_START_AT_ONCE = 8

export class TurnGroup {
  private gathering = false
  private waiting: Array<() => void> = []
  private flushing = false
  /** Started at once in the current turn; an end-of-turn check is scheduled while it is above 0. */
  private startedThisTurn = 0
  private singleTurns = 0

  /** Whether runs wait for the end of the turn now (for tests and the log). */
  get gathers (): boolean {
    return this.gathering
  }

  /** Starts `run` now, or at the end of this turn with the others that arrive in it. */
  async run<T> (run: () => Promise<T>): Promise<T> {
    if (!this.gathering) {
      if (this.startedThisTurn++ === 0) setImmediate(this.endOfTurn)
      return await run()
    }
    return await new Promise<T>((resolve, reject) => {
      this.waiting.push(() => {
        try {
          run().then(resolve, reject)
        } catch (error) {
          reject(error)
        }
      })
      if (!this.flushing) {
        this.flushing = true
        setImmediate(this.flush)
      }
    })
  }

  private readonly endOfTurn = (): void => {
    if (this.startedThisTurn > 1) {
      this.gathering = true
      this.singleTurns = 0
    }
    this.startedThisTurn = 0
  }

  private readonly flush = (): void => {
    const waiting = this.waiting
    this.waiting = []
    this.flushing = false
    this.singleTurns = waiting.length > 1 ? 0 : this.singleTurns + 1
    if (this.singleTurns >= SINGLE_TURNS_TO_START_AT_ONCE) this.gathering = false
    for (const start of waiting) start()
  }
}
