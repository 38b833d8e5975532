// What one client, and all of them, may hold open, across every listening
// server of the process (HTTP and gRPC): past the process's open-file limit
// it could not open a model file, a worker or even read its own memory use,
// and would stop; one address holding every connection would shut the
// others out.

import { BlockList, isIPv4, type Socket } from 'node:net'
import { addressKey } from '../auth/client-address'

export interface ConnectionLimits {
  /** Open connections in all (MAX_CONNECTIONS). */
  max: number
  /** Open connections per client address, IPv6 by /64 (MAX_CONNECTIONS_PER_ADDRESS; 0: no limit). */
  maxPerAddress: number
  /** Addresses not counted per address (TRUST_PROXY's proxies: each carries many clients); true: every address. */
  exempt: string[] | boolean
}

/** The proxies TRUST_PROXY lists, as a BlockList to test addresses against. */
function addressList (entries: string[]): BlockList {
  const list = new BlockList()
  for (const entry of entries) {
    const [address, prefix] = entry.split('/')
    const type = isIPv4(address) ? 'ipv4' : 'ipv6'
    if (prefix === undefined) list.addAddress(address, type)
    else list.addSubnet(address, Number(prefix), type)
  }
  return list
}

export class ConnectionLimiter {
  private total = 0
  private readonly open = new Map<string, number>()
  private readonly exempt: (address: string) => boolean

  constructor (private readonly limits: ConnectionLimits) {
    const { exempt } = limits
    if (typeof exempt === 'boolean') this.exempt = () => exempt
    else {
      const list = addressList(exempt)
      this.exempt = address => list.check(address, isIPv4(address) ? 'ipv4' : 'ipv6')
    }
  }

  /** Connections open now, across every server. */
  get connections (): number {
    return this.total
  }

  /**
   * Counts a new connection until it closes, or destroys it at once (before
   * it costs a request) when it would pass a limit; says which.
   */
  admit (socket: Socket): boolean {
    if (this.total >= this.limits.max) {
      socket.destroy()
      return false
    }
    // A socket already gone has no address; Node cleans it up.
    const address = socket.remoteAddress ?? ''
    const key = this.limits.maxPerAddress > 0 && !this.exempt(address) ? addressKey(address) : undefined
    if (key !== undefined) {
      const count = (this.open.get(key) ?? 0) + 1
      if (count > this.limits.maxPerAddress) {
        socket.destroy()
        return false
      }
      this.open.set(key, count)
    }
    this.total++
    socket.once('close', () => {
      this.total--
      if (key === undefined) return
      const left = (this.open.get(key) ?? 1) - 1
      if (left === 0) this.open.delete(key)
      else this.open.set(key, left)
    })
    return true
  }
}
