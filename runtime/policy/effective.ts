// The policy a proxy enforces: the org floor, the local tier and rules, the kits of a sandbox and
// rules given on the command line, assembled in that order of authority.
import {Policy, type RuleLayer} from './policy.js'
import {readLocalPolicy, readOrgPolicy} from './local-policy.js'
import type {KitPolicy} from './from-kit.js'

export interface EffectivePolicyOptions {
  env?: NodeJS.ProcessEnv
  kits?: readonly KitPolicy[]
  /** Rules from the command line (`--allow`, `--deny`), source `flag`. */
  allow?: readonly string[]
  deny?: readonly string[]
}

export async function effectivePolicy(opts: EffectivePolicyOptions = {}): Promise<Policy> {
  const env = opts.env ?? process.env
  const [local, org] = await Promise.all([readLocalPolicy(env), readOrgPolicy(env)])
  const layers: RuleLayer[] = []
  if ((opts.allow?.length ?? 0) > 0 || (opts.deny?.length ?? 0) > 0) {
    layers.push({source: 'flag', allow: opts.allow ?? [], deny: opts.deny ?? []})
  }
  layers.push({source: 'local', allow: local.allow, deny: local.deny})
  for (const k of opts.kits ?? []) layers.push(k.layer)
  return new Policy({tier: local.tier, layers, ...(org ? {org} : {})})
}

export interface CheckResult {
  url: string
  method: string
  host: string
  port: number
  path: string
  action: 'allow' | 'deny'
  rule?: string
  source?: string
  reason: string
}

export class BadUrlError extends Error {
  readonly code = 'E_BAD_URL'
  constructor(url: string, problem: string) {
    super(`bad URL ${JSON.stringify(url)}: ${problem}`)
    this.name = 'BadUrlError'
  }
}

/** `kit policy check URL`: the decision for one request, as the proxy would make it. */
export function checkUrl(policy: Policy, url: string, method = 'GET'): CheckResult {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new BadUrlError(url, 'not an absolute URL')
  }
  const defaults: Record<string, number> = {'http:': 80, 'https:': 443, 'ws:': 80, 'wss:': 443}
  const port = u.port ? Number(u.port) : defaults[u.protocol]
  if (port === undefined) throw new BadUrlError(url, `scheme ${u.protocol} is not http(s) or ws(s)`)
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1')
  const path = u.pathname + u.search
  const m = method.toUpperCase()
  const d = policy.evaluate({host, port, method: m, path})
  const out: CheckResult = {url, method: m, host, port, path, action: d.action, reason: d.reason}
  if (d.rule !== undefined) out.rule = d.rule
  if (d.source !== undefined) out.source = d.source
  return out
}
