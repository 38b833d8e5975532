// The identity a client address is counted under, for quotas and
// connection limits. One IPv6 host is usually given a whole /64 and can pick
// any address in it, so counting each address alone would hand it 2^64
// quotas: IPv6 clients are counted by their /64 network.

import { isIPv4, isIPv6 } from 'node:net'

/** The counting key of an address: IPv4 as is, IPv6 as its /64 network; undefined when `address` is not an IP address. */
export function addressKey (address: string): string | undefined {
  if (isIPv4(address)) return address
  if (!isIPv6(address)) return undefined
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped !== null) return mapped[1]
  return `${expandIPv6(address).slice(0, 4).join(':')}::/64`
}

/** The key a client address is counted under: addressKey's, or the text itself when it is no IP address. */
export function countingKey (address: string): string {
  return addressKey(address) ?? address
}

/** The eight 16-bit groups of a valid IPv6 address, without leading zeros. */
function expandIPv6 (address: string): string[] {
  let text = address.split('%')[0].toLowerCase()
  // A trailing dotted quad (::1.2.3.4) is two groups.
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (quad !== null) {
    const [a, b, c, d] = quad.slice(1).map(Number)
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, tail] = text.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const middle = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0')
  return [...left, ...middle, ...right].map(group => parseInt(group, 16).toString(16))
}
