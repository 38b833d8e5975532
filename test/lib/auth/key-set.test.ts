import t from 'tap'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { KeyServerUnavailableError, KeySet, UnknownKeyError, type FetchFunction } from '../../../lib/auth/key-set'

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const pemOf = (key: KeyObject): string => key.export({ type: 'spki', format: 'pem' }) as string
const jwk = (key: KeyObject, kid: string, alg?: string, extra: object = {}): object => ({ ...key.export({ format: 'jwk' }), kid, alg, use: 'sig', ...extra })

const timings = { timeoutMs: 200, ttlMs: 10_000, maxStaleMs: 60_000, cooldownMs: 5_000 }

/** A key set over a scripted fetch and a clock the test moves. */
function scripted (answer: () => Promise<Response>) {
  let now = 1_000_000
  const calls: number[] = []
  const errors: string[] = []
  const fetch: FetchFunction = async () => { calls.push(now); return answer() }
  const keySet = new KeySet({ url: 'http://keys.test/jwks.json', ...timings, fetch, now: () => now, onFetchError: error => errors.push(error.message) })
  return { keySet, calls, errors, advance: (ms: number) => { now += ms } }
}

const json = (body: unknown, status = 200): Promise<Response> => Promise.resolve(new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } }))
const settle = (): Promise<void> => new Promise(resolve => setImmediate(resolve))

t.test('keys by kid and alg; fetched once, then from memory', async t => {
  const { keySet, calls } = scripted(() => json({ keys: [jwk(rsa.publicKey, 'r1', 'RS256'), jwk(ec.publicKey, 'e1')] }))
  t.equal(await keySet.publicKey('r1', 'RS256'), pemOf(rsa.publicKey))
  t.equal(await keySet.publicKey('e1', 'ES256'), pemOf(ec.publicKey), 'a key without alg serves any algorithm (the verifier pins them)')
  t.equal(calls.length, 1)
  await t.rejects(keySet.publicKey('r1', 'RS512'), UnknownKeyError, 'the key names another alg')
  await t.rejects(keySet.publicKey(undefined, 'RS256'), UnknownKeyError, 'no kid, and every key has one')
  t.equal(calls.length, 1, 'misses within the cooldown fetch nothing')
})

t.test('unknown kids: one fetch per cooldown, however many tokens name them', async t => {
  const { keySet, calls, advance } = scripted(() => json({ keys: [jwk(rsa.publicKey, 'r1', 'RS256')] }))
  await keySet.publicKey('r1', 'RS256')
  const misses = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => keySet.publicKey(`forged-${i}`, 'RS256')))
  t.ok(misses.every(result => result.status === 'rejected' && result.reason instanceof UnknownKeyError), '200 unknown kids refused')
  t.equal(calls.length, 1, 'and no fetch for them')
  advance(timings.cooldownMs)
  await t.rejects(keySet.publicKey('forged-x', 'RS256'), UnknownKeyError)
  t.equal(calls.length, 2, 'after the cooldown, one fetch looks for a rotated key')
  const concurrent = await Promise.allSettled(Array.from({ length: 50 }, () => keySet.publicKey('forged-y', 'RS256')))
  t.equal(concurrent.length, 50)
  t.equal(calls.length, 2, 'concurrent misses share it')
})

t.test('rotation: a new kid is found by the fetch it triggers after the cooldown', async t => {
  let keys = [jwk(rsa.publicKey, 'r1', 'RS256')]
  const { keySet, calls, advance } = scripted(() => json({ keys }))
  await keySet.publicKey('r1', 'RS256')
  keys = [jwk(ec.publicKey, 'e2', 'ES256')]
  advance(timings.cooldownMs)
  t.equal(await keySet.publicKey('e2', 'ES256'), pemOf(ec.publicKey))
  t.equal(calls.length, 2)
  await t.rejects(keySet.publicKey('r1', 'RS256'), UnknownKeyError, 'the retired key is gone')
})

t.test('past the TTL: served at once from memory, refreshed in the background', async t => {
  let fail = false
  const { keySet, calls, errors, advance } = scripted(() => fail ? json({}, 500) : json({ keys: [jwk(rsa.publicKey, 'r1', 'RS256')] }))
  await keySet.publicKey('r1', 'RS256')
  fail = true
  advance(timings.ttlMs)
  t.equal(await keySet.publicKey('r1', 'RS256'), pemOf(rsa.publicKey), 'stale key served')
  await settle()
  t.equal(calls.length, 2, 'a background refresh was tried')
  t.strictSame(errors, ['the key set URL answered 500'])
  advance(timings.maxStaleMs - 1)
  t.equal(await keySet.publicKey('r1', 'RS256'), pemOf(rsa.publicKey), 'still served just before TTL + JWKS_MAX_STALE_MS')
  await settle()
  advance(1)
  const error = await keySet.publicKey('r1', 'RS256').catch((caught: unknown) => caught)
  t.ok(error instanceof KeyServerUnavailableError, 'then 503: no key is usable')
  t.equal((error as KeyServerUnavailableError).statusCode, 503)
  t.match((error as KeyServerUnavailableError).message, /the token key server cannot be reached \(the key set URL answered 500\); retry in \d+ s/)
  t.ok(((error as KeyServerUnavailableError).retryAfter ?? 0) >= 1)
  fail = false
  advance(timings.cooldownMs)
  t.equal(await keySet.publicKey('r1', 'RS256'), pemOf(rsa.publicKey), 'the key server is back')
})

t.test('what a key set may not be', async t => {
  const cases: Array<[string, () => Promise<Response>, RegExp]> = [
    ['not JSON', () => Promise.resolve(new Response('<html>')), /the key set is not JSON/],
    ['no keys array', () => json({ keys: 'x' }), /has no "keys" array/],
    ['too large', () => Promise.resolve(new Response('x'.repeat(1024 * 1024 + 1))), /larger than 1048576 bytes/],
    ['a 404', () => json({ error: 'nope' }, 404), /answered 404/],
    ['a network error', () => Promise.reject(new TypeError('fetch failed')), /fetch failed/]
  ]
  for (const [what, answer, message] of cases) {
    const { keySet, errors } = scripted(answer)
    await t.rejects(keySet.publicKey('r1', 'RS256'), KeyServerUnavailableError, what)
    t.match(errors[0], message, what)
  }
  const { keySet } = scripted(() => json({
    keys: [
      jwk(rsa.publicKey, 'enc', 'RSA-OAEP', { use: 'enc' }),
      { ...(rsa.privateKey.export({ format: 'jwk' })), kid: 'private', alg: 'RS256' },
      { kty: 'EC', crv: 'P-256', kid: 'garbage', x: 'AA', y: 'AA' },
      { kid: 7, kty: 'RSA' },
      null,
      jwk(ec.publicKey, 'good', 'ES256')
    ]
  }))
  t.equal(await keySet.publicKey('good', 'ES256'), pemOf(ec.publicKey), 'the usable key of a mixed set')
  for (const kid of ['enc', 'private', 'garbage']) await t.rejects(keySet.publicKey(kid, 'RS256'), UnknownKeyError, `${kid} is left out`)
})

t.test('a key server that accepts and never answers costs at most JWKS_TIMEOUT_MS', async t => {
  const held: ServerResponse[] = []
  const server = createServer((_request, response) => { held.push(response) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const response of held) response.destroy(); server.close() })
  const { port } = server.address() as AddressInfo
  const keySet = new KeySet({ url: `http://127.0.0.1:${port}/jwks.json`, ...timings })
  const started = Date.now()
  const error = await keySet.publicKey('r1', 'RS256').catch((caught: unknown) => caught)
  const took = Date.now() - started
  t.ok(error instanceof KeyServerUnavailableError, '503')
  t.match((error as Error).message, /no answer within 200 ms \(JWKS_TIMEOUT_MS\)/)
  t.ok(took >= 190 && took < 1500, `answered after ${took} ms`)
  const again = Date.now()
  await t.rejects(keySet.publicKey('r1', 'RS256'), KeyServerUnavailableError)
  t.ok(Date.now() - again < 50, 'within the cooldown the next request is answered at once')
  t.equal(held.length, 1, 'one connection was made')
})
