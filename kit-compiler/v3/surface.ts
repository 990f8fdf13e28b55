// SPEC-v3 §7.4 permission surface as a pure function: the sorted, deduplicated set of what a host
// must grant for an (effective) descriptor, and the widenings between two surfaces that must stop
// for approval. A first slice: coarse where the spec allows finer judgement (a bounded
// network-policy@2 entry is compared as a whole; any change of it counts as a widening).
import {createHash} from 'node:crypto'
import {posix} from 'node:path'
import {T, type KitDescriptorV3} from './descriptor.js'

/** Types that contribute nothing to the surface (§7.4). */
const NO_SURFACE = new Set<string>([T.Resources, T.Lifecycle, T.AgentContext, T.AgentSessions, T.AgentInteractiveSessions, T.Sbx, T.LongRunning])

export interface Surface {
  /** Grants: `net:<phase>:allow:<entry>`, `cred:<phase>:<service>`, `port:<n>/<transport>`, `path:<p>`, `privileged`, `type:<type>:<config digest>`. */
  grants: string[]
  /** Denies: `net:<phase>:deny:<entry>` (a removed deny widens). */
  denies: string[]
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as any)[k])}`).join(',')}}`
  return JSON.stringify(v)
}

function entryKey(e: unknown): string {
  if (typeof e === 'string') return e.toLowerCase()
  const x = e as {hosts: string[]; methods?: string[]; paths?: string[]}
  return `${[...x.hosts].map((h) => h.toLowerCase()).sort().join('|')} ${[...(x.methods ?? ['*'])].sort().join('|')} ${[...(x.paths ?? ['*'])].sort().join('|')}`
}

/** The surface of every capability in `d` (all groups' members included: a lock approves what may be selected). */
export function permissionSurface(d: Pick<KitDescriptorV3, 'capabilities'>): Surface {
  const grants = new Set<string>()
  const denies = new Set<string>()
  for (const item of (d.capabilities ?? []) as any[]) {
    for (const c of item.group ? item.group.capabilities : [item]) {
      const cfg = c.config ?? {}
      if (NO_SURFACE.has(c.type)) continue
      switch (c.type) {
        case T.NetworkPolicy1:
        case T.NetworkPolicy2:
          for (const phase of ['install', 'runtime']) {
            for (const a of cfg[phase]?.allow ?? []) grants.add(`net:${phase}:allow:${entryKey(a)}`)
            for (const x of cfg[phase]?.deny ?? []) denies.add(`net:${phase}:deny:${entryKey(x)}`)
          }
          break
        case T.Credential:
          for (const phase of Array.isArray(cfg.phase) ? cfg.phase : [cfg.phase]) {
            grants.add(`cred:${phase}:${cfg.service}`)
            for (const r of cfg.apiKey?.inject ?? []) grants.add(`cred:${phase}:${cfg.service}:inject:${String(r.domain).toLowerCase()}`)
          }
          break
        case T.Port:
          grants.add(`port:${cfg.container}/${cfg.transport ?? 'tcp'}`)
          break
        case T.Volume:
        case T.HostMount:
          grants.add(`path:${posix.normalize(String(cfg.path)).replace(/(.)\/+$/, '$1')}${c.type === T.HostMount ? ':host' : ''}`)
          break
        case T.AgentSkills:
          grants.add(`skills:${posix.normalize(String(cfg.path))}:${cfg.mode === 'readwrite' ? 'readwrite' : 'readonly'}`)
          break
        case T.Privileged:
          grants.add('privileged')
          break
        default:
          grants.add(`type:${c.type}:${createHash('sha256').update(canonical(cfg)).digest('hex').slice(0, 16)}`)
      }
    }
  }
  return {grants: [...grants].sort(), denies: [...denies].sort()}
}

export interface Widening {
  kind: 'new-grant' | 'removed-deny'
  entry: string
}

/** What `next` grants beyond `granted`: new grants, and removed denies. Empty: the update may apply silently. */
export function widenings(granted: Surface, next: Surface): Widening[] {
  const had = new Set(granted.grants)
  const stillDenied = new Set(next.denies)
  const out: Widening[] = []
  for (const g of next.grants) {
    if (had.has(g)) continue
    // Read access to a skills path already granted for write is no widening.
    if (g.startsWith('skills:') && g.endsWith(':readonly') && had.has(g.replace(/:readonly$/, ':readwrite'))) continue
    out.push({kind: 'new-grant', entry: g})
  }
  for (const d of granted.denies) if (!stillDenied.has(d)) out.push({kind: 'removed-deny', entry: d})
  return out
}
