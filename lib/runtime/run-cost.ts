// What a model version's runs cost, measured as it serves: exponentially
// weighted averages of each run's time and input elements, and a line
// through them (a fixed cost per run plus a cost per element), so the cost
// of a request with more rows, or a larger dynamic dimension, can be told
// before it runs.

import { elementCount, type TensorMap } from '../tensors/tensor'

/** How much the newest run weighs against the history: a change shows within a few runs. */
const WEIGHT = 0.25

/** The input elements of a request: what its run's cost grows with. */
export function inputElements (feeds: TensorMap): number {
  let count = 0
  for (const tensor of Object.values(feeds)) count += elementCount(tensor.dims)
  return count
}

export class RunCost {
  private runs = 0
  private meanElements = 0
  private meanMs = 0
  private meanSquaredElements = 0
  private meanProduct = 0

  observe (ms: number, elements: number): void {
    const weight = this.runs === 0 ? 1 : WEIGHT
    this.runs++
    this.meanElements += weight * (elements - this.meanElements)
    this.meanMs += weight * (ms - this.meanMs)
    this.meanSquaredElements += weight * (elements * elements - this.meanSquaredElements)
    this.meanProduct += weight * (elements * ms - this.meanProduct)
  }

  /** The average run, in ms; undefined before the first. */
  get typicalMs (): number | undefined {
    return this.runs === 0 ? undefined : this.meanMs
  }

  /**
   * What a run of `elements` input elements should take, in ms: on the
   * line through the runs seen, once their sizes have varied enough to draw
   * one; before that, in proportion to the average run for a larger request
   * (an overestimate for models with a large fixed cost per run, which only
   * errs towards a worker). Undefined before the first run.
   */
  predictMs (elements: number): number | undefined {
    if (this.runs === 0) return undefined
    const variance = this.meanSquaredElements - this.meanElements ** 2
    const covariance = this.meanProduct - this.meanElements * this.meanMs
    if (variance > (0.05 * this.meanElements) ** 2 && covariance > 0) {
      const perElement = covariance / variance
      const fixed = Math.max(0, this.meanMs - perElement * this.meanElements)
      return fixed + perElement * elements
    }
    return this.meanMs * Math.max(1, elements / Math.max(1, this.meanElements))
  }
}
