// Address ranges a name must not quietly resolve into: the host's own services (loopback), private
// networks, link-local (cloud metadata at 169.254.169.254), and other non-public ranges. A guest
// reaching one of them through an allowed name is DNS rebinding or SSRF; only a CIDR rule that names
// the range (lies inside it) lets such an address through.
import {parseNetworkRule, type HostPattern} from '../../kit-compiler/network-rules.js'

export interface SpecialRange {
  /** The range, e.g. `127.0.0.0/8`. */
  cidr: string
  /** What it is, for messages: `loopback`, `private`, `link-local`, `metadata`, ... */
  label: string
  pattern: Extract<HostPattern, {kind: 'cidr'}>
}

const RANGES: Array<[string, string]> = [
  ['169.254.169.254/32', 'metadata'],
  ['0.0.0.0/8', 'this-network'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'shared (CGNAT)'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'IETF protocol assignments'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['64:ff9b:1::/48', 'local-use NAT64'],
  ['100::/64', 'discard'],
  ['fc00::/7', 'unique local (private)'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'site-local'],
  ['ff00::/8', 'multicast'],
]

export const SPECIAL_RANGES: SpecialRange[] = RANGES.map(([cidr, label]) => {
  const rule = parseNetworkRule(cidr, 'deny')
  if (rule.host.kind !== 'cidr') throw new Error(`not a CIDR: ${cidr}`)
  return {cidr, label, pattern: rule.host}
})

function inRange(p: Extract<HostPattern, {kind: 'cidr'}>, family: 4 | 6, value: bigint): boolean {
  if (p.family !== family) return false
  const bits = family === 4 ? 32 : 128
  if (p.prefix === 0) return true
  const shift = BigInt(bits - p.prefix)
  return value >> shift === p.network >> shift
}

/** The special range an address lies in (the most specific first: metadata before link-local). */
export function specialRangeOf(family: 4 | 6, value: bigint): SpecialRange | undefined {
  return SPECIAL_RANGES.find((r) => inRange(r.pattern, family, value))
}

/** Whether a CIDR pattern lies entirely inside a range (it "names" that range or part of it). */
export function cidrInside(inner: Extract<HostPattern, {kind: 'cidr'}>, outer: Extract<HostPattern, {kind: 'cidr'}>): boolean {
  return inner.family === outer.family && inner.prefix >= outer.prefix && inRange(outer, inner.family, inner.network)
}

/**
 * The IPv4 address an IPv6 address carries and is routed to (or translated to) by some gateway:
 * NAT64 (64:ff9b::/96, and 64:ff9b:1::/48 read as /96), 6to4 (2002:AABB:CCDD::/48), Teredo
 * (2001::/32, the client's address, inverted), IPv4-compatible (::a.b.c.d) and IPv4-translated
 * (::ffff:0:a.b.c.d). Such an address is judged as that IPv4 address too. (IPv4-mapped
 * ::ffff:a.b.c.d is turned into IPv4 when a host is normalised.)
 */
export function embeddedIPv4(value: bigint): {value: bigint; form: string} | undefined {
  const low32 = value & 0xffffffffn
  if (value >> 32n === 0x64ff9b0000000000000000n) return {value: low32, form: 'NAT64'}
  if (value >> 80n === 0x64ff9b0001n) return {value: low32, form: 'local-use NAT64'}
  if (value >> 112n === 0x2002n) return {value: (value >> 80n) & 0xffffffffn, form: '6to4'}
  if (value >> 96n === 0x20010000n) return {value: ~low32 & 0xffffffffn, form: 'Teredo'}
  if (value >> 32n === 0xffff0000n) return {value: low32, form: 'IPv4-translated'}
  if (value >> 32n === 0n && value > 1n) return {value: low32, form: 'IPv4-compatible'}
  return undefined
}
