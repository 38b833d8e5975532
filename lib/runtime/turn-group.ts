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
// 7% fewer requests a second, at one connection). So while no turn lately
// held more than one request, the first of a turn starts at once and only
// the turn's others wait for its end; once a turn held more, all of them
// wait, until SINGLE_TURNS_TO_START_AT_ONCE turns of one request in a row.
// A dynamic batcher keeps one too: a request that would start at once
// skips the batcher's queue, a batch of one, and the turn's others are
// merged by the batcher, which tells the group how many went together.

/** Turns of a single request in a row after which a gathering group starts runs at once again. */
export const SINGLE_TURNS_TO_START_AT_ONCE = 8

export class TurnGroup {
  private gathering = false
  private singleTurns = 0
  /** A run started at once in this turn: the turn's others wait for its end. */
  private startedAtOnce = false
  /** Requests of this turn that went to a dynamic batcher after one started at once. */
  private joinedThisTurn = 0
  private waiting: Array<() => void> = []
  private turnEnding = false

  /** Whether runs wait for the end of their turn (a turn held more than one request lately). */
  get gathers (): boolean {
    return this.gathering
  }

  /** Whether a request arriving now would start at once: it is the first of its turn and no turn lately held more. */
  get atOnce (): boolean {
    return !this.gathering && !this.startedAtOnce
  }

  /** Starts `run` now, or at the end of this turn with the others that arrive in it. */
  async run<T> (run: () => Promise<T>): Promise<T> {
    if (this.atOnce) {
      this.startedAtOnce = true
      this.endTurnLater()
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
      this.endTurnLater()
    })
  }

  /** A request that a dynamic batcher queued: after one started at once in this turn, it counts in the turn's requests. */
  joined (): void {
    if (this.startedAtOnce) this.joinedThisTurn++
  }

  /** A turn's requests that went together, here or in a dynamic batcher's batch: more than one starts gathering, single ones in a row end it. */
  counted (requests: number): void {
    if (requests > 1) {
      this.gathering = true
      this.singleTurns = 0
    } else if (this.gathering && ++this.singleTurns >= SINGLE_TURNS_TO_START_AT_ONCE) {
      this.gathering = false
    }
  }

  private endTurnLater (): void {
    if (this.turnEnding) return
    this.turnEnding = true
    setImmediate(this.endTurn)
  }

  private readonly endTurn = (): void => {
    const waiting = this.waiting
    this.waiting = []
    this.counted(waiting.length + this.joinedThisTurn + (this.startedAtOnce ? 1 : 0))
    this.startedAtOnce = false
    this.joinedThisTurn = 0
    this.turnEnding = false
    for (const start of waiting) start()
  }
}
