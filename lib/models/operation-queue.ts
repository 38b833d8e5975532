// Loads and unloads of one model run one at a time, in call order: each
// waits for the one queued before it for the same name, whatever its outcome.

export class ModelOperationQueue {
  /** The last operation queued for each model name; never rejects. */
  private readonly tails = new Map<string, Promise<void>>()

  /**
   * Runs `operation` once every operation queued before it for `name` has
   * settled, so a load and an unload of one model never interleave.
   */
  run<T> (name: string, operation: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(name) ?? Promise.resolve()).then(operation)
    const settled = result.then(() => {}, () => {})
    this.tails.set(name, settled)
    settled.then(() => {
      if (this.tails.get(name) === settled) this.tails.delete(name)
    }, () => {})
    return result
  }

  /** Settles when every operation queued so far has. */
  async idle (): Promise<void> {
    await Promise.all(this.tails.values())
  }
}
