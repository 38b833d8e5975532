import { LRUCache } from 'lru-cache'

/**
 * The addresses over their failed-authentication limit, each until its
 * window ends: at most `maxAddresses`, the least recently blocked forgotten
 * first (a forgotten address is counted again, and blocked again on its next
 * failure). Bounded by maxSize, one per address, rather than by lru-cache's
 * `max`: with `max` and a ttl, lru-cache allocates four arrays of `max` slots
 * up front, 3.2 MB of live heap for 100,000 addresses that a server under no
 * attack never blocks, and a larger live heap makes V8's full collections
 * rarer (which is what frees each closed gRPC stream's native memory).
 */
export function blockedAddresses (maxAddresses: number, windowMs: number): LRUCache<string, true> {
  return new LRUCache<string, true>({ maxSize: maxAddresses, sizeCalculation: () => 1, ttl: windowMs })
}
