// JSON request bodies, parsed once for every parser (the HTTP content-type
// parsers and the v2 infer body): JSON.parse makes `__proto__` an own key,
// harmless here, but code further on may merge these objects, so the keys
// that poison prototypes are refused, as secure-json-parse refuses them.

import { InputError } from '../errors'

/** Text that cannot hold a poisoning key skips the walk (escaped keys included). */
const SUSPECT_KEYS = /__proto__|constructor|\\u/

export const POISONED_BODY = 'body: the keys __proto__ and constructor.prototype are not allowed in a request body'

/** Whether `root` holds a `__proto__` key, or a `constructor` object with a `prototype` key, at any depth. */
export function hasPoisonedKeys (root: unknown): boolean {
  const stack: unknown[] = [root]
  while (stack.length > 0) {
    const value = stack.pop()
    if (typeof value !== 'object' || value === null) continue
    if (!Array.isArray(value)) {
      if (Object.hasOwn(value, '__proto__')) return true
      const ctor = (value as Record<string, unknown>).constructor
      if (Object.hasOwn(value, 'constructor') && typeof ctor === 'object' && ctor !== null && Object.hasOwn(ctor, 'prototype')) return true
    }
    for (const child of Object.values(value)) {
      if (typeof child === 'object' && child !== null) stack.push(child)
    }
  }
  return false
}

/**
 * The value of a JSON body: a SyntaxError (JSON.parse's own) for text that
 * is not JSON, an InputError for one that poisons prototypes.
 */
export function parseJsonBody (text: string): unknown {
  // A leading byte order mark is not JSON, but editors write one.
  const value: unknown = JSON.parse(text.charCodeAt(0) === 0xFEFF ? text.slice(1) : text)
  if (SUSPECT_KEYS.test(text) && hasPoisonedKeys(value)) throw new InputError('body', POISONED_BODY)
  return value
}
