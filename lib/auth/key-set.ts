// The public keys of a JSON Web Key Set (JWKS_URL), fetched and kept so that
// no token can make the server wait on, or hammer, the key server:
// - every fetch has a real deadline (Node's fetch would otherwise wait up to
//   300 s for a server that accepts and never answers);
// - at most one fetch is in flight, and fetches start at most once per
//   cooldown, so tokens naming unknown key ids (which cost an attacker
//   nothing: no signature is checked before the key is found) are answered
//   from what is known instead of each costing a fetch;
// - keys past their TTL keep serving for a bounded time while the key
//   server fails, and are refreshed in the background, never on a
//   request's time;
// - with no usable key at all the answer is KeyServerUnavailableError (503),
//   not a hang and not a 401 that blames the token.
// get-jwks, used before, has none of these: its only timeout is an option
// Node's fetch ignores, and it fetches again for every unknown key id.

import { createPublicKey, type JsonWebKey } from 'node:crypto'
import { ServeError } from '../errors'
import type { KeySetTimings } from '../config/config'

/** The key set cannot be had (key server down, slow or answering garbage) and no earlier keys are usable: 503. */
export class KeyServerUnavailableError extends ServeError {
  constructor (message: string, retryAfter: number) {
    super(503, 'ONNX_SERVE_KEY_SERVER_UNAVAILABLE', message, retryAfter)
  }
}

/** The token names a key the set does not have: the token's fault, 401. */
export class UnknownKeyError extends Error {
  override name = 'UnknownKeyError'
}

/** A key set larger than this is refused rather than read. */
const MAX_KEY_SET_BYTES = 1024 * 1024

interface PublishedKey {
  kid?: string
  alg?: string
  pem: string
}

export type FetchFunction = (url: string, init: RequestInit) => Promise<Response>

export interface KeySetOptions extends KeySetTimings {
  url: string
  fetch?: FetchFunction
  now?: () => number
  /** Told of every failed fetch (for the log). */
  onFetchError?: (error: Error) => void
}

export class KeySet {
  readonly #options: KeySetOptions
  readonly #fetch: FetchFunction
  readonly #now: () => number
  #keys: PublishedKey[] = []
  /** When the keys were last fetched successfully (-Infinity: never). */
  #fetchedAt = -Infinity
  /** When the last fetch started, whatever its outcome. */
  #attemptedAt = -Infinity
  #inFlight: Promise<void> | undefined
  #lastError: Error | undefined

  constructor (options: KeySetOptions) {
    this.#options = options
    this.#fetch = options.fetch ?? ((url, init) => fetch(url, init))
    this.#now = options.now ?? Date.now
  }

  /** The PEM public key for a token's `kid` and `alg`. */
  async publicKey (kid: string | undefined, alg: string | undefined): Promise<string> {
    const usable = this.#usable()
    const found = usable ? this.#find(kid, alg) : undefined
    if (found !== undefined) {
      // Past its TTL: refresh in the background; this request uses what is known.
      if (this.#now() - this.#fetchedAt >= this.#options.ttlMs) this.#refresh()
      return found.pem
    }
    // An unknown kid may be a rotation: fetch, unless one was tried within the cooldown.
    this.#refresh()
    if (this.#inFlight !== undefined) await this.#inFlight
    if (this.#usable()) {
      const key = this.#find(kid, alg)
      if (key !== undefined) return key.pem
      // The kid is not echoed: it is the token's text, bound for a header.
      throw new UnknownKeyError(`the key set has no key for this token's ${kid === undefined ? 'alg (and it names no kid)' : 'kid and alg'}`)
    }
    const retryAfter = Math.max(1, Math.ceil((this.#attemptedAt + this.#options.cooldownMs - this.#now()) / 1000))
    throw new KeyServerUnavailableError(`the token key server cannot be reached (${this.#lastError?.message ?? 'no key set fetched yet'}); retry in ${retryAfter} s`, retryAfter)
  }

  /** Keys fetched within TTL + max staleness. */
  #usable (): boolean {
    return this.#now() - this.#fetchedAt < this.#options.ttlMs + this.#options.maxStaleMs
  }

  #find (kid: string | undefined, alg: string | undefined): PublishedKey | undefined {
    return this.#keys.find(key => key.kid === kid && (key.alg === undefined || key.alg === alg))
  }

  /** Starts a fetch unless one is in flight or one started within the cooldown. */
  #refresh (): void {
    if (this.#inFlight !== undefined || this.#now() - this.#attemptedAt < this.#options.cooldownMs) return
    this.#attemptedAt = this.#now()
    this.#inFlight = this.#load()
      .then(keys => {
        this.#keys = keys
        this.#fetchedAt = this.#now()
        this.#lastError = undefined
      }, (error: Error) => {
        this.#lastError = error
        this.#options.onFetchError?.(error)
      })
      .finally(() => { this.#inFlight = undefined })
  }

  async #load (): Promise<PublishedKey[]> {
    // The deadline covers the whole exchange: connect, headers and body.
    const signal = AbortSignal.timeout(this.#options.timeoutMs)
    let response: Response
    let text: string
    try {
      response = await this.#fetch(this.#options.url, { signal, redirect: 'error', headers: { accept: 'application/json' } })
      text = await readLimited(response)
    } catch (error) {
      if (signal.aborted) throw new Error(`no answer within ${this.#options.timeoutMs} ms (JWKS_TIMEOUT_MS)`)
      throw error
    }
    if (!response.ok) throw new Error(`the key set URL answered ${response.status}`)
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      throw new Error('the key set is not JSON')
    }
    const keys = (body as { keys?: unknown }).keys
    if (!Array.isArray(keys)) throw new Error('the key set has no "keys" array')
    return keys.flatMap(publishedKey)
  }
}

async function readLimited (response: Response): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? 0)
  if (declared > MAX_KEY_SET_BYTES) throw new Error(`the key set is larger than ${MAX_KEY_SET_BYTES} bytes`)
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of response.body ?? []) {
    size += (chunk as Uint8Array).length
    if (size > MAX_KEY_SET_BYTES) throw new Error(`the key set is larger than ${MAX_KEY_SET_BYTES} bytes`)
    chunks.push(chunk as Uint8Array)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** A signing key of the set as PEM; keys for encryption, private or unreadable keys are left out. */
function publishedKey (jwk: unknown): PublishedKey[] {
  if (typeof jwk !== 'object' || jwk === null) return []
  const { kid, alg, use, d } = jwk as { kid?: unknown, alg?: unknown, use?: unknown, d?: unknown }
  if ((use !== undefined && use !== 'sig') || d !== undefined) return []
  if ((kid !== undefined && typeof kid !== 'string') || (alg !== undefined && typeof alg !== 'string')) return []
  try {
    const pem = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string
    return [{ kid, alg, pem }]
  } catch {
    return []
  }
}
