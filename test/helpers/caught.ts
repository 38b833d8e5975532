/** What `fn` throws, or undefined: for asserting on errors thrown synchronously. */
export function caught (fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  return undefined
}
