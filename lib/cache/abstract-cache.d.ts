// abstract-cache ships no types: the one call plugins/caching.ts makes.
declare module 'abstract-cache' {
  interface AbstractCacheOptions {
    /** false: give callback-style methods (what @fastify/caching calls) over `client`. */
    useAwait: boolean
    client: unknown
  }
  function abstractCache (options: AbstractCacheOptions): import('@fastify/caching').AbstractCacheCompliantObject
  export = abstractCache
}
