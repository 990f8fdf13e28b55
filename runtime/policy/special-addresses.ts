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
