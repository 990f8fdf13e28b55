// Network rules: the text a kit, a local policy or an org floor writes in `permissions.network`,
// parsed into something the policy proxy can enforce exactly. Every rule this module accepts is
// enforced; everything else is rejected here, at load time, with a one-line reason.
//
// Grammar (one rule per string; whitespace only between the method list and the destination):
//
//   rule        = [methods SP] destination [path]
//   destination = host [":" ports] | "[" ipv6 "]" [":" ports] | cidr [":" ports] | "**" [":" ports]
//   host        = name | "*." name | "**." name | ipv4
//   cidr        = ipv4 "/" 0-32 | "[" ipv6 "/" 0-128 "]"    (a bare `fd00::/8` is accepted too)
//   ports       = port | port "-" port | "*"                 (1..65535; a range is lo <= hi)
//   methods     = method *("," method)                       (GET HEAD POST PUT PATCH DELETE OPTIONS ANY)
//   path        = "/" segments                               (a glob: `*` one segment, `**` any depth)
//
// Hosts:
// - `example.com`: that name only. `*.example.com`: exactly one label below it. `**.example.com`:
//   one or more labels below it, any depth. Neither wildcard covers `example.com` itself.
//   A wildcard anywhere but as the whole first label (`bedrock.*.amazonaws.com`, `api*.x.com`,
//   `*`) is rejected: the proxy could not enforce what the author meant.
// - `**`: every DNS name. It does not cover IP literals (a CONNECT to an IP needs a CIDR rule,
//   `0.0.0.0/0` or `::/0` if you mean all of them).
// - Names are lower-cased, a trailing dot is dropped and IDNs become punycode (`bücher.de` →
//   `xn--bcher-kva.de`). Labels are 1..63 characters of [a-z0-9_-], not starting or ending with
//   `-`; a name is at most 253 characters. A name whose last label is numeric is not a name (WHATWG
//   URL hosts read it as an IPv4 address), so it is rejected.
// - IPv4 literals are dotted quads in canonical decimal form (`127.1`, `0x7f.0.0.1` and `010.0.0.1`
//   are rejected as ambiguous); IPv6 literals are bracketed when a port follows (`[::1]:80`). An IP
//   literal is a CIDR of one address.
//
// Ports (ours, stricter than sbx): an ALLOW rule without a port allows ports 80 and 443 only; every
// other port must be named (`:8443`, `:8000-9000`, or `:*` for all ports). A DENY rule without a
// port denies every port of its destination (a deny must never be narrower than it reads). `**`
// follows the same rule: `**` allows every name on 80 and 443; `**:*` allows every name on every
// port.
//
// L7 (methods and paths): sbx's spec has no syntax for them, so this is ours. A rule may start with
// a comma-separated method list and a space (`GET,HEAD api.github.com/repos/**`) and/or end with a
// path glob after the destination (`api.github.com/repos/*/issues`). Methods are upper-case from
// GET HEAD POST PUT PATCH DELETE OPTIONS, or ANY. A path is matched against the request's canonical
// path (query string removed; see canonicalPath below): `*` matches exactly one non-empty segment,
// `**` zero or more segments; other segments are literal and may hold only RFC 3986 pchar
// characters other than `%`, `*` (so a rule path is already canonical). An L7 rule can only be
// enforced where the proxy terminates TLS (or on plain HTTP); the proxy intercepts every host that
// an L7 rule names. A rule with methods or a path matches only a request whose method and path are
// known (so `matchRule` without them is false for an L7 rule; use `matchDestination` for the
// host/port part alone).
import {domainToASCII} from 'node:url'
import {isIP} from 'node:net'

export const L7_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const
export type Method = (typeof L7_METHODS)[number]

export type RuleEffect = 'allow' | 'deny'

/** What a rule's destination covers. */
export type HostPattern =
  | {kind: 'exact'; name: string}
  /** `*.suffix`: exactly one label below suffix. */
  | {kind: 'one-label'; suffix: string}
  /** `**.suffix`: one or more labels below suffix. */
  | {kind: 'any-depth'; suffix: string}
  /** `**`: every DNS name (not IP literals). */
  | {kind: 'all-names'}
  /** An IP range; `literal` when written as a single address. */
  | {kind: 'cidr'; family: 4 | 6; network: bigint; prefix: number; literal: boolean}

export interface PortRange {
  from: number
  to: number
}

export interface NetworkRule {
  /** The rule in canonical form (lower-case host, punycode, default ports omitted). */
  text: string
  /** The text as written. */
  source: string
  effect: RuleEffect
  host: HostPattern
  /** The ports the rule covers; `'any'` for every port. */
  ports: PortRange[] | 'any'
  /** Whether a port was written (`false`: the allow default 80/443 or the deny default of any). */
  explicitPort: boolean
  /** Upper-case methods; undefined means any method. */
  methods?: Method[]
  /** A path glob starting with `/`; undefined means any path. */
  path?: string
}

/** A request (or a CONNECT target) to match. `host` may be a raw name; it is normalised here. */
export interface RuleTarget {
  host: string
  port: number
  method?: string
  /** The request path (query allowed; it is ignored). */
  path?: string
}

/** What the policy decided for a request, naming the rule and where it came from. */
export interface Decision {
  action: 'allow' | 'deny'
  /** The canonical text of the deciding rule; absent for the default deny. */
  rule?: string
  /** Where the rule came from: `tier balanced`, `kit NAME`, `local`, `org`, `flag`, ... */
  source?: string
  /** One line a user can read: why. */
  reason: string
}

export class NetworkRuleError extends Error {
  readonly code = 'E_NETWORK_RULE'
  constructor(
    readonly rule: string,
    readonly problem: string,
  ) {
    super(`invalid network rule ${JSON.stringify(rule)}: ${problem}`)
    this.name = 'NetworkRuleError'
  }
}

const DEFAULT_ALLOW_PORTS: PortRange[] = [
  {from: 80, to: 80},
  {from: 443, to: 443},
]

// ---------------------------------------------------------------------------------------------
// Parsing

export function parseNetworkRule(text: string, effect: RuleEffect = 'allow'): NetworkRule {
  if (typeof text !== 'string') throw new NetworkRuleError(String(text), 'a rule is a string')
  const fail = (problem: string): never => {
    throw new NetworkRuleError(text, problem)
  }
  if (/[\u0000-\u001f\u007f]/.test(text)) fail('control characters are not allowed')
  const trimmed = text.trim()
  if (trimmed === '') fail('empty rule')
  if (trimmed.length > 2048) fail('longer than 2048 characters')

  // Methods.
  let methods: Method[] | undefined
  let rest = trimmed
  const space = trimmed.search(/\s/)
  if (space >= 0) {
    const head = trimmed.slice(0, space)
    rest = trimmed.slice(space).trim()
    if (/\s/.test(rest)) fail('only one space is allowed, between the methods and the destination')
    const names = head.split(',')
    const set = new Set<Method>()
    let any = false
    for (const m of names) {
      if (m === 'ANY') {
        any = true
        continue
      }
      if (!(L7_METHODS as readonly string[]).includes(m)) {
        fail(`unknown method ${JSON.stringify(m)} (use ${L7_METHODS.join(' ')} or ANY, upper case, comma-separated)`)
      }
      set.add(m as Method)
    }
    if (any && set.size > 0) fail('ANY cannot be combined with other methods')
    methods = any ? undefined : [...set]
  }

  // Split the destination from the path. A bracketed IPv6 part may contain '/', a CIDR may too.
  let dest: string
  let path: string | undefined
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']')
    if (close < 0) fail('unclosed "[" in an IPv6 address')
    const afterBracket = rest.slice(close + 1)
    const slash = afterBracket.indexOf('/')
    dest = slash < 0 ? rest : rest.slice(0, close + 1 + slash)
    path = slash < 0 ? undefined : afterBracket.slice(slash)
  } else if (isIP(rest) === 6 || isIPv6Cidr(rest)) {
    // An unbracketed IPv6 address or CIDR (::1, fd00::/8) has no port and no path.
    dest = rest
  } else {
    // An IPv4 CIDR keeps its "/prefix"; otherwise the path starts at the first "/".
    const cidr = /^([0-9.]+\/[0-9]+)(:[^/]*)?(\/.*)?$/.exec(rest)
    if (cidr && isIP(cidr[1]!.split('/')[0]!) === 4) {
      dest = cidr[1]! + (cidr[2] ?? '')
      path = cidr[3]
    } else {
      const slash = rest.indexOf('/')
      dest = slash < 0 ? rest : rest.slice(0, slash)
      path = slash < 0 ? undefined : rest.slice(slash)
    }
  }

  const {host, ports, explicitPort, portText} = parseDestination(dest, effect, fail)
  if (path !== undefined) path = parsePathGlob(path, fail)

  const hostText = formatHost(host)
  let canonical = hostText + (explicitPort ? `:${portText}` : '')
  if (path !== undefined) canonical += path
  if (methods !== undefined) canonical = `${methods.join(',')} ${canonical}`
  const rule: NetworkRule = {text: canonical, source: text, effect, host, ports, explicitPort}
  if (methods !== undefined) rule.methods = methods
  if (path !== undefined) rule.path = path
  return rule
}

/** Parse a list of rules; the first bad one throws. */
export function parseNetworkRules(texts: readonly string[], effect: RuleEffect = 'allow'): NetworkRule[] {
  return texts.map((t) => parseNetworkRule(t, effect))
}

/** Whether a rule has L7 (method or path) conditions. */
export function isL7Rule(rule: NetworkRule): boolean {
  return rule.methods !== undefined || rule.path !== undefined
}

function parseDestination(
  dest: string,
  effect: RuleEffect,
  fail: (p: string) => never,
): {host: HostPattern; ports: PortRange[] | 'any'; explicitPort: boolean; portText: string} {
  let hostPart: string
  let portPart: string | undefined
  if (dest.startsWith('[')) {
    const close = dest.indexOf(']')
    hostPart = dest.slice(1, close)
    const after = dest.slice(close + 1)
    if (after !== '') {
      if (!after.startsWith(':')) fail(`unexpected ${JSON.stringify(after)} after "]"`)
      portPart = after.slice(1)
    }
    if (!hostPart.includes(':')) fail('brackets are for IPv6 addresses only')
  } else if (isIP(dest) === 6 || isIPv6Cidr(dest)) {
    hostPart = dest
  } else {
    const colon = dest.lastIndexOf(':')
    if (colon >= 0) {
      if (dest.indexOf(':') !== colon) fail('an IPv6 address with a port must be bracketed: [::1]:80')
      hostPart = dest.slice(0, colon)
      portPart = dest.slice(colon + 1)
    } else {
      hostPart = dest
    }
  }
  if (hostPart === '') fail('no host')

  const host = parseHostPattern(hostPart, fail)
  let ports: PortRange[] | 'any'
  let explicitPort = false
  let portText = ''
  if (portPart === undefined) {
    ports = effect === 'deny' ? 'any' : DEFAULT_ALLOW_PORTS
  } else {
    explicitPort = true
    const p = parsePorts(portPart, fail)
    ports = p.ports
    portText = p.text
  }
  return {host, ports, explicitPort, portText}
}

function isIPv6Cidr(s: string): boolean {
  const slash = s.indexOf('/')
  return slash > 0 && isIP(s.slice(0, slash)) === 6
}

function parsePorts(text: string, fail: (p: string) => never): {ports: PortRange[] | 'any'; text: string} {
  if (text === '*') return {ports: 'any', text: '*'}
  const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(text)
  if (!m) fail(`bad port ${JSON.stringify(text)} (a number 1-65535, a range like 8000-9000, or *)`)
  const from = Number(m![1])
  const to = m![2] === undefined ? from : Number(m![2])
  for (const p of [from, to]) {
    if (p < 1 || p > 65535) fail(`port ${p} is out of range 1-65535`)
  }
  if (from > to) fail(`port range ${from}-${to} is backwards`)
  if (from === 1 && to === 65535) return {ports: 'any', text: '*'}
  return {ports: [{from, to}], text: from === to ? String(from) : `${from}-${to}`}
}

function parseHostPattern(raw: string, fail: (p: string) => never): HostPattern {
  if (raw.includes('%')) fail('"%" is not allowed in a host (no IPv6 zone ids, no percent-encoding)')
  // CIDR or IP literal.
  const slash = raw.indexOf('/')
  if (slash >= 0) {
    const addr = raw.slice(0, slash)
    const prefixText = raw.slice(slash + 1)
    const family = isIP(addr)
    if (family === 0) fail(`${JSON.stringify(addr)} is not an IP address (CIDR is ADDRESS/PREFIX)`)
    if (family === 4 && !isCanonicalIPv4(addr)) fail(`${JSON.stringify(addr)} is not a canonical dotted-quad IPv4 address`)
    if (!/^[0-9]{1,3}$/.test(prefixText)) fail(`bad prefix length ${JSON.stringify(prefixText)}`)
    const prefix = Number(prefixText)
    const bits = family === 4 ? 32 : 128
    if (prefix > bits) fail(`prefix length ${prefix} is over ${bits}`)
    const value = ipToBigInt(addr)
    const network = maskBits(value, prefix, bits)
    if (network !== value) fail(`${raw} has host bits set (the network is ${bigIntToIp(network, family as 4 | 6)}/${prefix})`)
    return {kind: 'cidr', family: family as 4 | 6, network, prefix, literal: false}
  }
  const family = isIP(raw)
  if (family === 6) {
    return {kind: 'cidr', family: 6, network: ipToBigInt(raw), prefix: 128, literal: true}
  }
  if (family === 4) {
    if (!isCanonicalIPv4(raw)) fail(`${JSON.stringify(raw)} is not a canonical dotted-quad IPv4 address`)
    return {kind: 'cidr', family: 4, network: ipToBigInt(raw), prefix: 32, literal: true}
  }
  if (raw === '**') return {kind: 'all-names'}
  if (raw === '*') fail('"*" alone is not a rule: use "**" for every name')
  let kind: 'exact' | 'one-label' | 'any-depth' = 'exact'
  let name = raw
  if (raw.startsWith('**.')) {
    kind = 'any-depth'
    name = raw.slice(3)
  } else if (raw.startsWith('*.')) {
    kind = 'one-label'
    name = raw.slice(2)
  }
  if (name.includes('*')) fail('a wildcard is allowed only as the whole first label (*.example.com or **.example.com)')
  const normalized = normalizeName(name)
  if (typeof normalized !== 'string') fail(normalized.problem)
  const n = normalized as string
  if (kind === 'exact') return {kind, name: n}
  return {kind, suffix: n}
}

function isCanonicalIPv4(s: string): boolean {
  return /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/.test(s)
}

/** Normalise a DNS name: lower case, no trailing dot, punycode, valid labels. */
function normalizeName(raw: string): string | {problem: string} {
  let s = raw
  if (s.endsWith('.')) s = s.slice(0, -1)
  if (s === '') return {problem: 'empty host name'}
  // domainToASCII lower-cases and converts IDN labels; it returns '' for names it cannot convert.
  const ascii = /^[A-Za-z0-9._-]+$/.test(s) ? s.toLowerCase() : domainToASCII(s)
  if (ascii === '') return {problem: `${JSON.stringify(raw)} is not a valid host name`}
  if (ascii.length > 253) return {problem: 'host name is longer than 253 characters'}
  const labels = ascii.split('.')
  for (const label of labels) {
    if (label === '') return {problem: `empty label in ${JSON.stringify(raw)}`}
    if (label.length > 63) return {problem: `label ${JSON.stringify(label)} is longer than 63 characters`}
    if (!/^[a-z0-9_-]+$/.test(label)) return {problem: `bad character in label ${JSON.stringify(label)}`}
    if (label.startsWith('-') || label.endsWith('-')) return {problem: `label ${JSON.stringify(label)} starts or ends with "-"`}
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!) || /^0x[0-9a-f]*$/.test(labels[labels.length - 1]!)) {
    return {problem: `${JSON.stringify(raw)} ends in a number: write an IP address as a dotted quad or a CIDR`}
  }
  return ascii
}

const PCHAR_LITERAL = /^[A-Za-z0-9\-._~!$&'()+,;=:@]+$/

function parsePathGlob(path: string, fail: (p: string) => never): string {
  if (!path.startsWith('/')) fail('a path must start with "/"')
  if (path.includes('?') || path.includes('#')) fail('a path rule cannot hold a query or a fragment')
  const segments = path.split('/').slice(1)
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!
    if (seg === '*' || seg === '**') continue
    if (seg === '') {
      if (i === segments.length - 1) continue // a trailing slash
      fail('empty path segment ("//")')
    }
    if (seg === '.' || seg === '..') fail('"." and ".." segments are not allowed in a path rule')
    if (seg.includes('*')) fail(`"*" must be a whole path segment (in ${JSON.stringify(seg)})`)
    if (seg.includes('%')) fail('percent-encoding is not allowed in a path rule')
    if (!PCHAR_LITERAL.test(seg)) fail(`bad character in path segment ${JSON.stringify(seg)}`)
  }
  return path
}

function formatHost(h: HostPattern): string {
  switch (h.kind) {
    case 'exact':
      return h.name
    case 'one-label':
      return `*.${h.suffix}`
    case 'any-depth':
      return `**.${h.suffix}`
    case 'all-names':
      return '**'
    case 'cidr': {
      const addr = bigIntToIp(h.network, h.family)
      if (h.literal) return h.family === 6 ? `[${addr}]` : addr
      return h.family === 6 ? `[${addr}/${h.prefix}]` : `${addr}/${h.prefix}`
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Hosts of requests

export type NormalizedHost = {kind: 'name'; name: string} | {kind: 'ip'; family: 4 | 6; address: string; value: bigint}

export class HostError extends Error {
  readonly code = 'E_BAD_HOST'
  constructor(
    readonly host: string,
    readonly problem: string,
  ) {
    super(`bad host ${JSON.stringify(host.slice(0, 300))}: ${problem}`)
    this.name = 'HostError'
  }
}

const hostCache = new Map<string, NormalizedHost>()

/**
 * Normalise the host of a request as a browser would (WHATWG URL host parsing): lower case, no
 * trailing dot, punycode, and every IPv4 spelling (`2130706433`, `0x7f.1`, `127.1`) turned into a
 * dotted quad, so no spelling of an address passes as a name. IPv6 may come bracketed or not;
 * IPv4-mapped IPv6 (`::ffff:127.0.0.1`) becomes its IPv4 address. Throws HostError.
 */
export function normalizeHost(raw: string): NormalizedHost {
  const cached = hostCache.get(raw)
  if (cached) return cached
  const result = normalizeHostUncached(raw)
  if (hostCache.size >= 4096) hostCache.clear()
  hostCache.set(raw, result)
  return result
}

function normalizeHostUncached(raw: string): NormalizedHost {
  if (raw === '' || raw.length > 300) throw new HostError(raw, 'empty or too long')
  if (/[\u0000-\u0020\u007f/\\?#@%<>^|"`{}[\]]/.test(raw.replace(/^\[(.*)\]$/, '$1'))) {
    throw new HostError(raw, 'forbidden character')
  }
  let s = raw
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1)
  if (isIP(s) === 6) return ipHost(s)
  if (s.includes(':') || s.includes('[') || s.includes(']')) throw new HostError(raw, 'not a host name or address')
  let hostname: string
  try {
    hostname = new URL(`http://${s}/`).hostname
  } catch {
    throw new HostError(raw, 'not a valid host name')
  }
  if (hostname.endsWith('.')) hostname = hostname.slice(0, -1)
  if (isIP(hostname) === 4) return ipHost(hostname)
  const n = normalizeName(hostname)
  if (typeof n !== 'string') throw new HostError(raw, n.problem)
  return {kind: 'name', name: n}
}

function ipHost(address: string): NormalizedHost {
  const family = isIP(address) as 4 | 6
  let value = ipToBigInt(address)
  if (family === 6 && value >> 32n === 0xffffn) {
    // IPv4-mapped: judge it as the IPv4 address it is.
    value = value & 0xffffffffn
    return {kind: 'ip', family: 4, address: bigIntToIp(value, 4), value}
  }
  return {kind: 'ip', family, address: bigIntToIp(value, family), value}
}

// ---------------------------------------------------------------------------------------------
// Matching

/** Whether the rule's host and port cover the target, ignoring methods and paths. */
export function matchDestination(rule: NetworkRule, host: string | NormalizedHost, port: number): boolean {
  if (!portMatches(rule.ports, port)) return false
  const h = typeof host === 'string' ? tryNormalize(host) : host
  if (!h) return false
  return hostPatternMatches(rule.host, h)
}

/**
 * Whether the rule matches the request: host, port, and (for an L7 rule) method and path. An L7
 * rule never matches a target whose method or path is unknown. A path that is not canonical (see
 * canonicalPath) never matches an L7 rule; the proxy refuses such requests on L7 hosts.
 */
export function matchRule(rule: NetworkRule, target: RuleTarget): boolean {
  if (!matchDestination(rule, target.host, target.port)) return false
  if (rule.methods !== undefined) {
    if (target.method === undefined || !(rule.methods as string[]).includes(target.method)) return false
  }
  if (rule.path !== undefined) {
    if (target.path === undefined) return false
    const canon = canonicalPath(target.path)
    if (!canon.ok) return false
    if (!pathGlobMatches(rule.path, canon.path)) return false
  }
  return true
}

function tryNormalize(host: string): NormalizedHost | undefined {
  try {
    return normalizeHost(host)
  } catch {
    return undefined
  }
}

function portMatches(ports: PortRange[] | 'any', port: number): boolean {
  if (!Number.isInteger(port) || port < 1 || port > 65535) return false
  if (ports === 'any') return true
  return ports.some((r) => port >= r.from && port <= r.to)
}

function hostPatternMatches(p: HostPattern, h: NormalizedHost): boolean {
  if (p.kind === 'cidr') {
    if (h.kind !== 'ip' || h.family !== p.family) return false
    return maskBits(h.value, p.prefix, p.family === 4 ? 32 : 128) === p.network
  }
  if (h.kind !== 'name') return false
  return namePatternMatchesName(p, h.name)
}

function namePatternMatchesName(p: Exclude<HostPattern, {kind: 'cidr'}>, name: string): boolean {
  switch (p.kind) {
    case 'all-names':
      return true
    case 'exact':
      return name === p.name
    case 'one-label': {
      if (!name.endsWith('.' + p.suffix)) return false
      const head = name.slice(0, name.length - p.suffix.length - 1)
      return head.length > 0 && !head.includes('.')
    }
    case 'any-depth':
      return name.length > p.suffix.length + 1 && name.endsWith('.' + p.suffix)
  }
}

/**
 * Whether an (allow) rule covers every name a host pattern covers: `hostCoveredBy(rule,
 * '*.openai.azure.com')` is true for `**.azure.com` and `*.openai.azure.com`, false for
 * `openai.azure.com`. `host` may carry a port (`api.example.com:8443`); without one, the rule must
 * cover port 443. Methods and paths of the rule are ignored. Throws NetworkRuleError for a pattern
 * that is not a valid host pattern.
 */
export function hostCoveredBy(rule: NetworkRule, host: string): boolean {
  const inner = parseNetworkRule(host, 'allow')
  if (isL7Rule(inner)) throw new NetworkRuleError(host, 'a host pattern cannot carry methods or a path')
  const port = inner.explicitPort ? inner.ports : [{from: 443, to: 443}]
  if (!portsCovered(port, rule.ports)) return false
  return hostPatternCovered(inner.host, rule.host)
}

function portsCovered(inner: PortRange[] | 'any', outer: PortRange[] | 'any'): boolean {
  if (outer === 'any') return true
  if (inner === 'any') return false
  return inner.every((r) => outer.some((o) => o.from <= r.from && r.to <= o.to))
}

/** Whether every host `inner` covers is covered by `outer`. */
export function hostPatternCovered(inner: HostPattern, outer: HostPattern): boolean {
  if (inner.kind === 'cidr' || outer.kind === 'cidr') {
    if (inner.kind !== 'cidr' || outer.kind !== 'cidr' || inner.family !== outer.family) return false
    if (outer.prefix > inner.prefix) return false
    return maskBits(inner.network, outer.prefix, inner.family === 4 ? 32 : 128) === outer.network
  }
  switch (inner.kind) {
    case 'exact':
      return namePatternMatchesName(outer, inner.name)
    case 'all-names':
      return outer.kind === 'all-names'
    case 'one-label':
      // Names x.S: covered by *.S, by **.T where S is T or under T, by **.
      if (outer.kind === 'all-names') return true
      if (outer.kind === 'one-label') return outer.suffix === inner.suffix
      if (outer.kind === 'any-depth') return inner.suffix === outer.suffix || inner.suffix.endsWith('.' + outer.suffix)
      return false
    case 'any-depth':
      if (outer.kind === 'all-names') return true
      if (outer.kind === 'any-depth') return inner.suffix === outer.suffix || inner.suffix.endsWith('.' + outer.suffix)
      return false
  }
}

// ---------------------------------------------------------------------------------------------
// Paths

export type CanonicalPath = {ok: true; path: string} | {ok: false; problem: string}

const UNRESERVED = /[A-Za-z0-9\-._~]/

/**
 * The canonical form of a request path for L7 matching: the query is dropped, percent-encoded
 * unreserved characters are decoded and other escapes upper-cased. A path that could mean something
 * else to the origin than to the matcher is refused (`ok: false`): dot segments (also encoded),
 * empty segments (`//`), encoded `/` or `\`, a backslash, control characters, or not starting
 * with `/`.
 */
export function canonicalPath(raw: string): CanonicalPath {
  let p = raw
  const q = p.search(/[?#]/)
  if (q >= 0) p = p.slice(0, q)
  if (!p.startsWith('/')) return {ok: false, problem: 'the path does not start with "/"'}
  if (/[\u0000-\u0020\u007f\\]/.test(p)) return {ok: false, problem: 'forbidden character in the path'}
  let out = ''
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!
    if (c !== '%') {
      out += c
      continue
    }
    const hex = p.slice(i + 1, i + 3)
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return {ok: false, problem: 'bad percent-encoding in the path'}
    const ch = String.fromCharCode(parseInt(hex, 16))
    if (ch === '/' || ch === '\\' || ch === '.') return {ok: false, problem: `encoded ${JSON.stringify(ch)} in the path`}
    out += UNRESERVED.test(ch) ? ch : '%' + hex.toUpperCase()
    i += 2
  }
  const segments = out.split('/').slice(1)
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!
    if (s === '.' || s === '..') return {ok: false, problem: 'dot segment in the path'}
    if (s === '' && i !== segments.length - 1) return {ok: false, problem: 'empty segment ("//") in the path'}
  }
  return {ok: true, path: out}
}

/** Match a canonical path against a rule's glob (`*` one non-empty segment, `**` any depth). */
export function pathGlobMatches(glob: string, path: string): boolean {
  const g = glob.split('/').slice(1)
  const s = path.split('/').slice(1)
  return globSegments(g, 0, s, 0)
}

function globSegments(g: string[], gi: number, s: string[], si: number): boolean {
  while (gi < g.length) {
    const seg = g[gi]!
    if (seg === '**') {
      if (gi === g.length - 1) return true
      for (let k = si; k <= s.length; k++) if (globSegments(g, gi + 1, s, k)) return true
      return false
    }
    if (si >= s.length) return false
    if (seg === '*') {
      if (s[si] === '') return false
    } else if (seg !== s[si]) {
      return false
    }
    gi++
    si++
  }
  return si === s.length
}

// ---------------------------------------------------------------------------------------------
// IP helpers

/** An IP address (v4 dotted quad or v6) as an unsigned integer. */
export function ipToBigInt(address: string): bigint {
  if (isIP(address) === 4) {
    return address.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n)
  }
  let s = address
  // An embedded IPv4 tail (::ffff:1.2.3.4).
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s)
  if (v4) {
    const n = ipToBigInt(v4[1]!)
    s = s.slice(0, -v4[1]!.length) + ((n >> 16n) & 0xffffn).toString(16) + ':' + (n & 0xffffn).toString(16)
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined]
  const h = head ? head.split(':') : []
  const t = tail !== undefined && tail !== '' ? tail.split(':') : []
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t]
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n)
}

export function bigIntToIp(value: bigint, family: 4 | 6): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.')
  }
  const groups: number[] = []
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn))
  // Compress the longest run of zero groups (RFC 5952).
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart < 0) return hex.join(':')
  return hex.slice(0, bestStart).join(':') + '::' + hex.slice(bestStart + bestLen).join(':')
}

function maskBits(value: bigint, prefix: number, bits: number): bigint {
  if (prefix === 0) return 0n
  const shift = BigInt(bits - prefix)
  return (value >> shift) << shift
}

/** Whether an address (already normalised) lies in a CIDR rule's range. */
export function cidrContains(p: Extract<HostPattern, {kind: 'cidr'}>, family: 4 | 6, value: bigint): boolean {
  return p.family === family && maskBits(value, p.prefix, family === 4 ? 32 : 128) === p.network
}
