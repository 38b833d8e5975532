/**
 * Changes of what the workers hold (loads, warm-ups, unloads), one after
 * another in the order asked, and whether any is under way or waiting.
 */
export class Turns {
  private last: Promise<unknown> = Promise.resolve()
  private underWay = 0

  /** A change under way or waiting: a session opened now would wait for it. */
  get busy (): boolean {
    return this.underWay > 0
  }

  /** Runs `change` after the changes asked before it. */
  async take<T> (change: () => Promise<T>): Promise<T> {
    this.underWay++
    const turn = this.last.then(change)
    this.last = turn.catch(() => {})
    try {
      return await turn
    } finally {
      this.underWay--
    }
  }
}
