// The permission surface of a kit: a normalised, sorted projection of everything it grants, so two
// versions can be compared and a lockfile can record what was approved. Network rules are in their
// canonical text (host, ports, methods, path); credentials by service with their inject domains and
// OAuth hosts; install and startup commands by digest (with a short preview for people); files a kit
// puts outside the agent's home (setup.files paths, files/workspace entries).
//
// A new version is WIDER when it adds an allow not covered by an old one, removes a deny, adds a
// credential service, an inject domain or an OAuth host, turns on privileged, adds an install or
// startup command, or writes a new file outside the home directory. Anything else passes.
import {createHash} from 'node:crypto'
import {hostPatternCovered, type NetworkRule, parseNetworkRule, type PortRange} from '../network-rules.js'
import type {KitSpec} from '../model.js'

export interface CommandGrant {
  /** sha256 of the command (install: the `sh -c` text; startup: the argv as JSON). */
  digest: string
  /** The user it runs as (`root` unless the spec names one). */
  user: string
  /** The first 80 characters, for messages. */
  preview: string
}

export interface CredentialGrant {
  service: string
  /** Domains the proxy injects the secret into, sorted. */
  inject: string[]
  /** OAuth token endpoint and resource hosts, sorted. */
  oauthHosts: string[]
}

export interface PermissionSurface {
  network: {allow: string[]; deny: string[]}
  credentials: CredentialGrant[]
  privileged: boolean
  install: CommandGrant[]
  startup: CommandGrant[]
  /** Absolute paths outside /home/agent (setup.files) and `workspace/...` layer entries, sorted. */
  files: string[]
}

export const HOME = '/home/agent'

/** The surface of a normalised spec and its layer's entry paths (`home/agent/...`, `workspace/...`). */
export function permissionSurface(spec: KitSpec, layerPaths: readonly string[] = []): PermissionSurface {
  const net = spec.permissions?.network ?? {}
  const canon = (texts: readonly string[] | undefined, effect: 'allow' | 'deny') =>
    sortedUnique((texts ?? []).map((t) => {
      try {
        return parseNetworkRule(t, effect).text
      } catch {
        return t.trim()
      }
    }))
  const credentials: CredentialGrant[] = (spec.credentials ?? [])
    .map((c) => ({
      service: c.service,
      inject: sortedUnique((c.apiKey?.inject ?? []).map((i) => i.domain.trim().toLowerCase())),
      oauthHosts: sortedUnique([
        ...(c.oauth?.tokenEndpoint?.host ? [c.oauth.tokenEndpoint.host] : []),
        ...(c.oauth?.resourceHosts ?? []),
      ].map((h) => h.trim().toLowerCase())),
    }))
    .sort((a, b) => cmp(a.service, b.service))
  const install = (spec.setup?.install ?? []).map((c) => grant(c.command, c.user))
  const startup = (spec.setup?.startup ?? []).map((c) => grant(JSON.stringify(c.command), c.user, c.command.join(' ')))
  const files = sortedUnique([
    ...(spec.setup?.files ?? []).map((f) => f.path).filter((p) => !underHome(p)),
    ...layerPaths.filter((p) => p === 'workspace' || p.startsWith('workspace/')).filter((p) => p !== 'workspace'),
  ])
  return {
    network: {allow: canon(net.allow, 'allow'), deny: canon(net.deny, 'deny')},
    credentials,
    privileged: spec.security?.privileged === true,
    install: sortGrants(install),
    startup: sortGrants(startup),
    files,
  }
}

function grant(text: string, user: string | undefined, shown = text): CommandGrant {
  const preview = shown.replace(/\s+/g, ' ').trim()
  return {
    digest: 'sha256:' + createHash('sha256').update(text).digest('hex'),
    user: user ?? 'root',
    preview: preview.length > 80 ? preview.slice(0, 77) + '...' : preview,
  }
}

function sortGrants(g: CommandGrant[]): CommandGrant[] {
  const seen = new Set<string>()
  return g
    .filter((x) => {
      const k = `${x.digest} ${x.user}`
      if (seen.has(k)) return false
      seen.add(k)
      return true
    })
    .sort((a, b) => cmp(a.digest, b.digest) || cmp(a.user, b.user))
}

function underHome(path: string): boolean {
  const p = path.replace(/\/+$/, '')
  return p === '~' || p.startsWith('~/') || p === HOME || p.startsWith(HOME + '/')
}

/** One way a new surface is wider than the approved one. */
export interface Widening {
  kind: 'network-allow' | 'network-deny-removed' | 'credential' | 'inject-domain' | 'oauth-host' | 'privileged' | 'install' | 'startup' | 'file'
  /** One line a person reads: `new allow api.example.com:443`. */
  message: string
}

/** What `next` grants beyond `approved`; empty when it is the same or narrower. */
export function surfaceWidening(approved: PermissionSurface, next: PermissionSurface): Widening[] {
  const out: Widening[] = []
  const oldAllows = approved.network.allow.map((t) => safeParse(t, 'allow')).filter((r): r is NetworkRule => r !== undefined)
  for (const text of next.network.allow) {
    if (approved.network.allow.includes(text)) continue
    const rule = safeParse(text, 'allow')
    if (rule && oldAllows.some((old) => ruleCovers(old, rule))) continue
    out.push({kind: 'network-allow', message: `new network allow ${text}`})
  }
  for (const text of approved.network.deny) {
    if (!next.network.deny.includes(text)) out.push({kind: 'network-deny-removed', message: `removed network deny ${text}`})
  }
  const before = new Map(approved.credentials.map((c) => [c.service, c]))
  for (const c of next.credentials) {
    const old = before.get(c.service)
    if (!old) {
      out.push({kind: 'credential', message: `new credential ${c.service}${c.inject.length ? ` injected into ${c.inject.join(', ')}` : ''}`})
      continue
    }
    for (const d of c.inject) if (!old.inject.includes(d)) out.push({kind: 'inject-domain', message: `credential ${c.service} newly injected into ${d}`})
    for (const h of c.oauthHosts) if (!old.oauthHosts.includes(h)) out.push({kind: 'oauth-host', message: `credential ${c.service} newly sent to ${h}`})
  }
  if (next.privileged && !approved.privileged) out.push({kind: 'privileged', message: 'now runs privileged'})
  const oldInstall = new Set(approved.install.map((g) => `${g.digest} ${g.user}`))
  for (const g of next.install) if (!oldInstall.has(`${g.digest} ${g.user}`)) out.push({kind: 'install', message: `new install command ${g.digest.slice(0, 19)} as ${g.user}: ${g.preview}`})
  const oldStartup = new Set(approved.startup.map((g) => `${g.digest} ${g.user}`))
  for (const g of next.startup) if (!oldStartup.has(`${g.digest} ${g.user}`)) out.push({kind: 'startup', message: `new startup command ${g.digest.slice(0, 19)} as ${g.user}: ${g.preview}`})
  for (const f of next.files) if (!approved.files.includes(f)) out.push({kind: 'file', message: `new file outside the home directory: ${f}`})
  return out
}

function safeParse(text: string, effect: 'allow' | 'deny'): NetworkRule | undefined {
  try {
    return parseNetworkRule(text, effect)
  } catch {
    return undefined
  }
}

/** True when every request `inner` allows, `outer` allows too. */
export function ruleCovers(outer: NetworkRule, inner: NetworkRule): boolean {
  if (!hostPatternCovered(inner.host, outer.host)) return false
  if (!portsCovered(inner.ports, outer.ports)) return false
  if (outer.methods !== undefined) {
    if (inner.methods === undefined || !inner.methods.every((m) => outer.methods!.includes(m))) return false
  }
  if (outer.path !== undefined && inner.path !== outer.path) return false
  return true
}

function portsCovered(inner: PortRange[] | 'any', outer: PortRange[] | 'any'): boolean {
  if (outer === 'any') return true
  if (inner === 'any') return false
  return inner.every((r) => outer.some((o) => o.from <= r.from && r.to <= o.to))
}

/** A surface as canonical JSON (sorted keys), for digests and lockfiles. */
export function surfaceDigest(surface: PermissionSurface): string {
  return 'sha256:' + createHash('sha256').update(canonicalJson(surface)).digest('hex')
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`
  }
  return JSON.stringify(value)
}

function sortedUnique(xs: string[]): string[] {
  return [...new Set(xs)].sort(cmp)
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Reads a surface back from JSON (a lockfile), checking its shape. */
export function parseSurface(value: unknown, where: string): PermissionSurface {
  const v = value as Partial<PermissionSurface> | null
  const strings = (x: unknown) => Array.isArray(x) && x.every((s) => typeof s === 'string')
  const grants = (x: unknown) => Array.isArray(x) && x.every((g) => g && typeof g.digest === 'string' && typeof g.user === 'string')
  if (
    !v || typeof v !== 'object' || !v.network || !strings(v.network.allow) || !strings(v.network.deny) ||
    !Array.isArray(v.credentials) || typeof v.privileged !== 'boolean' || !grants(v.install) || !grants(v.startup) || !strings(v.files)
  ) {
    throw Object.assign(new Error(`${where}: the recorded permission surface is malformed`), {code: 'E_SURFACE'})
  }
  return v as PermissionSurface
}
