// JSON request bodies, parsed once for every parser (the HTTP content-type
// parsers and the v2 infer body): JSON.parse makes `__proto__` an own key,
// harmless here, but code further on may merge these objects, so the keys
// that poison prototypes are refused, as secure-json-parse refuses them.

import { InputError } from '../errors'

/** Text that cannot hold a poisoning key skips the walk (escaped keys included). */
const SUSPECT_KEYS = /__proto__|constructor|\\u/

export const POISONED_BODY = 'body: the keys __proto__ and constructor.prototype are not allowed in a request body'

/**
 * Deeper than any request needs (the data of a rank-8 tensor in a v2 body is
 * 11 levels down): a body nested 330,000 deep took 112 ms of CPU to parse
 * and refuse; past this it is refused before JSON.parse, having cost a scan
 * of its first characters.
 */
export const MAX_JSON_DEPTH = 64

// The characters that matter to the depth: brackets, braces, and quotes
// (a string is skipped whole, escapes included). Found by the regular
// expression engine, which skips the numbers between them natively: a scan
// costs a tenth of JSON.parse on a body of numbers.
const STRUCTURE = /[[\]{}"]/g
const STRING_REST = /(?:[^"\\]|\\.)*"/y

/** Whether `text` opens more than `max` arrays or objects inside one another (strings skipped). */
export function nestedDeeperThan (text: string, max: number): boolean {
  let depth = 0
  STRUCTURE.lastIndex = 0
  for (let match = STRUCTURE.exec(text); match !== null; match = STRUCTURE.exec(text)) {
    const c = match[0]
    if (c === '"') {
      STRING_REST.lastIndex = STRUCTURE.lastIndex
      if (STRING_REST.exec(text) === null) return false
      STRUCTURE.lastIndex = STRING_REST.lastIndex
    } else if (c === '[' || c === '{') {
      if (++depth > max) return true
    } else {
      depth--
    }
  }
  return false
}

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
 * is not JSON, an InputError for one nested too deep or that poisons prototypes.
 */
export function parseJsonBody (text: string): unknown {
  if (nestedDeeperThan(text, MAX_JSON_DEPTH)) throw new InputError('body', `body: JSON nested more than ${MAX_JSON_DEPTH} levels deep; no request needs that`)
  // A leading byte order mark is not JSON, but editors write one.
  const value: unknown = JSON.parse(text.charCodeAt(0) === 0xFEFF ? text.slice(1) : text)
  if (SUSPECT_KEYS.test(text) && hasPoisonedKeys(value)) throw new InputError('body', POISONED_BODY)
  return value
}
