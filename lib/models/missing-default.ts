// The line an operator needs when DEFAULT_MODEL names no model of the
// repository: a copied .env with another repository, or a typo, would
// otherwise leave the server unready with nothing said until the first
// request's 503.

import { closest, distance } from 'fastest-levenshtein'

/** Why DEFAULT_MODEL cannot serve, with the names the repository holds and the nearest one; undefined when it is there (or unset). */
export function missingDefaultModel (configured: string | undefined, names: readonly string[], repository: string): string | undefined {
  if (configured === undefined || names.includes(configured)) return undefined
  const held = names.length === 0 ? 'which holds no model' : `which holds ${names.map(name => `'${name}'`).join(', ')}`
  // A typo: a few letters apart, whatever their case.
  const lower = names.map(name => name.toLowerCase())
  const wanted = configured.toLowerCase()
  const nearest = names.length === 0 ? undefined : closest(wanted, lower)
  const typo = nearest !== undefined && distance(wanted, nearest) <= Math.max(1, Math.floor(configured.length / 4))
  const hint = typo ? `; did you mean '${names[lower.indexOf(nearest ?? '')]}'?` : '.'
  return `DEFAULT_MODEL '${configured}' is not in the repository ${repository}, ${held}${hint} ` +
    'The server stays unready until it is: correct DEFAULT_MODEL, or unset it and /predict serves the first model by name'
}
