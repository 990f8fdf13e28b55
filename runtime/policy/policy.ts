// The policy engine: rule sets with their sources, evaluated the same way for every request.
//
// Layers: an org floor (denies, and optionally an allow ceiling), the tier preset, the local
// policy, the kits of a sandbox, and rules given on the command line. Evaluation:
//   1. a host that does not normalise is denied;
//   2. any matching deny rule (org first) denies: deny wins, whatever allows it;
//   3. with an org allow ceiling, a request the ceiling does not cover is denied: no tier, kit or
//      local rule can widen the org's ceiling;
//   4. the first matching allow rule allows;
//   5. otherwise the default deny.
// A request whose method and path are not known yet (a CONNECT) is judged on host and port: L7
// rules that match the destination make the proxy intercept (`intercept: true`) so that each
// request inside is judged again with its method and path.
import {
  bigIntToIp,
  canonicalPath,
  isL7Rule,
  matchDestination,
  normalizeHost,
  parseNetworkRule,
  pathGlobMatches,
  NetworkRuleError,
  type Decision,
  type NetworkRule,
  type NormalizedHost,
  type RuleEffect,
  type RuleTarget,
} from '../../kit-compiler/network-rules.js'
import {cidrInside, embeddedIPv4, specialRangeOf} from './special-addresses.js'
import {tierRules, type Tier} from './tiers.js'

export interface SourcedRule {
  rule: NetworkRule
  /** `tier balanced`, `kit NAME`, `local`, `org`, `flag`. */
  source: string
}

/** One layer of rules as written. */
export interface RuleLayer {
  source: string
  allow?: readonly string[]
  deny?: readonly string[]
}

export interface OrgPolicy {
  /** Denies no other layer can lift. */
  deny?: readonly string[]
  /** When set, nothing outside these rules is allowed, whatever other layers say. */
  allowCeiling?: readonly string[]
}

export interface PolicySpec {
  /** The preset the allow rules start from; default `deny-all`. */
  tier?: Tier
  layers?: readonly RuleLayer[]
  org?: OrgPolicy
}

export interface PolicyDecision extends Decision {
  /** For a target without method and path: whether requests inside must be judged one by one. */
  intercept: boolean
}

/** One rule as `kit policy ls` shows it. */
export interface ListedRule {
  effect: RuleEffect | 'ceiling'
  rule: string
  source: string
}

/** Thrown when a rule of some layer does not parse: names the layer. */
export class PolicyRuleError extends Error {
  readonly code = 'E_POLICY_RULE'
  constructor(
    readonly source: string,
    override readonly cause: NetworkRuleError,
  ) {
    super(`${source}: ${cause.message}`)
    this.name = 'PolicyRuleError'
  }
}

function parseLayer(texts: readonly string[] | undefined, effect: RuleEffect, source: string): SourcedRule[] {
  return (texts ?? []).map((t) => {
    try {
      return {rule: parseNetworkRule(t, effect), source}
    } catch (e) {
      if (e instanceof NetworkRuleError) throw new PolicyRuleError(source, e)
      throw e
    }
  })
}

export class Policy {
  readonly tier: Tier
  readonly orgDeny: SourcedRule[]
  readonly ceiling: SourcedRule[] | undefined
  readonly deny: SourcedRule[]
  readonly allow: SourcedRule[]

  constructor(spec: PolicySpec = {}) {
    this.tier = spec.tier ?? 'deny-all'
    this.orgDeny = parseLayer(spec.org?.deny, 'deny', 'org')
    this.ceiling = spec.org?.allowCeiling ? parseLayer(spec.org.allowCeiling, 'allow', 'org ceiling') : undefined
    const layers = spec.layers ?? []
    this.deny = layers.flatMap((l) => parseLayer(l.deny, 'deny', l.source))
    // Allow rules: the more specific sources first, so a decision names the rule a user added
    // rather than the tier preset that also covers it.
    this.allow = [
      ...layers.flatMap((l) => parseLayer(l.allow, 'allow', l.source)),
      ...parseLayer(tierRules(this.tier), 'allow', `tier ${this.tier}`),
    ]
    this.denies = [...this.orgDeny, ...this.deny]
    this.l7Rules = [...this.orgDeny, ...(this.ceiling ?? []), ...this.deny, ...this.allow].filter((r) => isL7Rule(r.rule))
  }

  /** Org denies, then the other denies. */
  private readonly denies: SourcedRule[]
  /** Every rule with methods or a path. */
  private readonly l7Rules: SourcedRule[]

  /** Every rule with its source, in evaluation order. */
  rules(): ListedRule[] {
    const out: ListedRule[] = []
    for (const r of this.orgDeny) out.push({effect: 'deny', rule: r.rule.text, source: r.source})
    for (const r of this.ceiling ?? []) out.push({effect: 'ceiling', rule: r.rule.text, source: r.source})
    for (const r of this.deny) out.push({effect: 'deny', rule: r.rule.text, source: r.source})
    for (const r of this.allow) out.push({effect: 'allow', rule: r.rule.text, source: r.source})
    return out
  }

  /** Whether rules with methods or paths apply to host:port (each request there is judged). */
  hasL7Rules(host: string, port: number): boolean {
    let h: NormalizedHost
    try {
      h = normalizeHost(host)
    } catch {
      return false
    }
    return this.l7Rules.some((r) => matchDestination(r.rule, h, port))
  }

  /**
   * Decide a request. Without method and path (a CONNECT), the decision is for the destination,
   * and `intercept` says whether L7 rules need each request inside to be judged.
   */
  evaluate(target: RuleTarget): PolicyDecision {
    let host: NormalizedHost
    try {
      host = normalizeHost(target.host)
    } catch (e) {
      return {action: 'deny', reason: (e as Error).message, intercept: false}
    }
    const port = target.port
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      return {action: 'deny', reason: `port ${String(port)} is out of range 1-65535`, intercept: false}
    }
    const known = target.method !== undefined && target.path !== undefined
    let path: string | undefined
    if (known) {
      const l7 = this.l7Rules.some((r) => matchDestination(r.rule, host, port))
      if (l7) {
        const canon = canonicalPath(target.path!)
        if (!canon.ok) {
          return {action: 'deny', rule: 'non-canonical-path', reason: `${canon.problem}; L7 rules apply to this host`, intercept: true}
        }
        path = canon.path
      }
    }
    const l7Match = (r: NetworkRule): boolean => {
      if (r.methods !== undefined && !(r.methods as string[]).includes(target.method!)) return false
      if (r.path !== undefined && (path === undefined || !pathGlobMatches(r.path, path))) return false
      return true
    }
    let intercept = false

    // Deny wins.
    for (const d of this.denies) {
      if (!matchDestination(d.rule, host, port)) continue
      if (!isL7Rule(d.rule)) return deny(d, 'a deny rule matches', intercept)
      if (known) {
        if (l7Match(d.rule)) return deny(d, 'a deny rule matches', true)
      } else {
        intercept = true
      }
    }

    // The org ceiling.
    if (this.ceiling) {
      let inside = false
      for (const c of this.ceiling) {
        if (!matchDestination(c.rule, host, port)) continue
        if (!isL7Rule(c.rule)) {
          inside = true
          break
        }
        if (known ? l7Match(c.rule) : true) {
          inside = true
          if (!known) intercept = true
        }
      }
      if (!inside) {
        return {action: 'deny', rule: 'org-ceiling', source: 'org', reason: 'outside the org allow ceiling', intercept}
      }
    }

    // The first allow that matches.
    let l7Candidate: SourcedRule | undefined
    for (const a of this.allow) {
      if (!matchDestination(a.rule, host, port)) continue
      if (!isL7Rule(a.rule)) return {action: 'allow', rule: a.rule.text, source: a.source, reason: 'an allow rule matches', intercept}
      if (known) {
        if (l7Match(a.rule)) return {action: 'allow', rule: a.rule.text, source: a.source, reason: 'an allow rule matches', intercept}
      } else if (!l7Candidate) {
        l7Candidate = a
      }
    }
    if (l7Candidate) {
      return {
        action: 'allow',
        rule: l7Candidate.rule.text,
        source: l7Candidate.source,
        reason: 'L7 allow rules apply: each request is judged',
        intercept: true,
      }
    }
    const what = known ? `${target.method} ${path ?? target.path!.replace(/[?#].*$/, '')} on ` : ''
    const reason =
      host.kind === 'ip'
        ? `no rule allows ${what}${host.address} port ${port} (an IP address needs a CIDR rule)`
        : `no rule allows ${what}${host.name} port ${port}`
    return {action: 'deny', reason, intercept}
  }

  /**
   * For a name that resolved to an address: a deny rule naming the address's range (CIDR denies
   * apply to resolved addresses), or, for an address in a special range (loopback, private,
   * link-local, metadata, ...), whether an allow CIDR rule inside that range permits it. Returns
   * undefined when the address may be used.
   */
  checkResolvedAddress(address: string, port: number): PolicyDecision | undefined {
    let h: NormalizedHost
    try {
      h = normalizeHost(address)
    } catch (e) {
      return {action: 'deny', reason: (e as Error).message, intercept: false}
    }
    if (h.kind !== 'ip') return {action: 'deny', reason: `${address} is not an address`, intercept: false}
    if (h.family === 6) {
      // An IPv6 address that carries an IPv4 one is judged as that IPv4 address as well.
      const v4 = embeddedIPv4(h.value)
      if (v4) {
        const inner = bigIntToIp(v4.value, 4)
        const refused = this.checkResolvedAddress(inner, port)
        if (refused) return {...refused, reason: `${h.address} is the ${v4.form} form of ${inner}: ${refused.reason}`}
      }
    }
    for (const d of this.denies) {
      if (d.rule.host.kind === 'cidr' && !isL7Rule(d.rule) && matchDestination(d.rule, h, port)) {
        return deny(d, `the name resolved to ${h.address}, which a deny rule covers`, false)
      }
    }
    const special = specialRangeOf(h.family, h.value)
    if (!special) return undefined
    const permit = this.allow.find(
      (a) => a.rule.host.kind === 'cidr' && cidrInside(a.rule.host, special.pattern) && matchDestination(a.rule, h, port),
    )
    if (permit) return undefined
    return {
      action: 'deny',
      rule: 'destination-ip-prohibited',
      reason: `the name resolved to ${h.address} (${special.label}, ${special.cidr}); only a CIDR rule inside ${special.cidr} allows it`,
      intercept: false,
    }
  }
}

function deny(r: SourcedRule, reason: string, intercept: boolean): PolicyDecision {
  return {action: 'deny', rule: r.rule.text, source: r.source, reason, intercept}
}

/** A suggestion for a blocked request, for the 403 body. */
export function hintFor(decision: Decision, host: string, port: number): string {
  if (decision.rule === 'org-ceiling' || decision.source === 'org') return 'blocked by the organisation policy; ask its owner'
  if (decision.rule === 'non-canonical-path') return 'send the request with a canonical path (no dot segments, "//" or encoded "/")'
  if (decision.rule === 'destination-ip-prohibited') return 'the name resolves to a non-public address; allow that CIDR explicitly if it is intended'
  if (decision.rule !== undefined) return `denied by rule ${JSON.stringify(decision.rule)} (${decision.source ?? 'unknown source'})`
  const dest = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
  const rule = port === 80 || port === 443 ? dest : `${dest}:${port}`
  return `allow it with: kit policy allow '${rule}'`
}
