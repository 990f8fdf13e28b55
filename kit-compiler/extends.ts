// `extends`: a sandbox kit inherits from one parent sandbox kit (which may extend another, at most
// MAX_EXTENDS_DEPTH levels; a cycle is an error). The child wins for single values, lists are the
// parent's then the child's, keyed lists (credentials by service, setup.files and volumes by path)
// keep the child's entry, and files/ overlay by path. A path the parent lists in `locked` may not
// be set by the child. Finding the parent (a directory, a store or registry reference) is the
// caller's: `resolveParent`.
import type {KitFileEntry} from './files.js'
import type {LoadedKit} from './load.js'
import type {KitSpec} from './model.js'

export const MAX_EXTENDS_DEPTH = 5

export class ExtendsError extends Error {
  readonly code = 'E_EXTENDS'
  constructor(message: string) {
    super(message)
    this.name = 'ExtendsError'
  }
}

/** Finds and loads the parent named by `child.spec.extends`; returns a stable identity for cycle checks. */
export type ParentResolver = (name: string, child: LoadedKit) => Promise<{kit: LoadedKit; id: string}>

export interface ExtendsResult {
  kit: LoadedKit
  /** Kit names from the child up to the root parent. */
  chain: string[]
}

export async function resolveExtends(kit: LoadedKit, resolveParent: ParentResolver, id = kit.dir): Promise<ExtendsResult> {
  const lineage: LoadedKit[] = [kit]
  const seen = new Set<string>([id])
  let current = kit
  while (current.spec.extends !== undefined) {
    const name = current.spec.extends
    if (lineage.length > MAX_EXTENDS_DEPTH) {
      throw new ExtendsError(`kit ${kit.spec.name}: extends goes deeper than ${MAX_EXTENDS_DEPTH} levels (${lineage.map((k) => k.spec.name).join(' → ')} → ${name})`)
    }
    const parent = await resolveParent(name, current)
    if (seen.has(parent.id)) {
      throw new ExtendsError(`kit ${kit.spec.name}: extends cycle (${[...lineage.map((k) => k.spec.name), parent.kit.spec.name].join(' → ')})`)
    }
    seen.add(parent.id)
    if (parent.kit.spec.kind !== 'sandbox') {
      throw new ExtendsError(`kit ${current.spec.name} extends ${name}, which is a ${parent.kit.spec.kind}, not a sandbox kit`)
    }
    lineage.push(parent.kit)
    current = parent.kit
  }
  // Fold from the root parent down to the child.
  let merged = lineage[lineage.length - 1]!
  for (let i = lineage.length - 2; i >= 0; i--) merged = mergeChild(merged, lineage[i]!)
  return {kit: merged, chain: lineage.map((k) => k.spec.name)}
}

function mergeChild(parent: LoadedKit, child: LoadedKit): LoadedKit {
  for (const path of parent.spec.locked ?? []) {
    if (setsPath(child.spec, path)) throw new ExtendsError(`kit ${child.spec.name} sets ${path}, which its parent ${parent.spec.name} locks`)
  }
  const p = parent.spec
  const c = child.spec
  const spec: KitSpec = {...p, ...c, kind: 'sandbox'}
  delete spec.extends
  const list = <T>(a: T[] | undefined, b: T[] | undefined): T[] | undefined => (a || b ? [...(a ?? []), ...(b ?? [])] : undefined)
  const keyed = <T>(a: T[] | undefined, b: T[] | undefined, key: (t: T) => string): T[] | undefined => {
    if (!a && !b) return undefined
    const out = new Map<string, T>()
    for (const t of [...(a ?? []), ...(b ?? [])]) {
      out.delete(key(t))
      out.set(key(t), t)
    }
    return [...out.values()]
  }
  if (p.sandbox || c.sandbox) spec.sandbox = {...p.sandbox, ...c.sandbox}
  if (p.agentInstructions || c.agentInstructions) spec.agentInstructions = {...p.agentInstructions, ...c.agentInstructions}
  if (p.permissions?.network || c.permissions?.network) {
    spec.permissions = {network: {}}
    const allow = list(p.permissions?.network?.allow, c.permissions?.network?.allow)
    const deny = list(p.permissions?.network?.deny, c.permissions?.network?.deny)
    if (allow) spec.permissions.network!.allow = allow
    if (deny) spec.permissions.network!.deny = deny
  }
  const credentials = keyed(p.credentials, c.credentials, (x) => x.service)
  if (credentials) spec.credentials = credentials
  if (p.environment?.variables || c.environment?.variables) spec.environment = {variables: {...p.environment?.variables, ...c.environment?.variables}}
  if (p.setup || c.setup) {
    spec.setup = {}
    const install = list(p.setup?.install, c.setup?.install)
    const startup = list(p.setup?.startup, c.setup?.startup)
    const files = keyed(p.setup?.files, c.setup?.files, (f) => f.path)
    if (install) spec.setup.install = install
    if (startup) spec.setup.startup = startup
    if (files) spec.setup.files = files
  }
  const ports = list(p.ports, c.ports)
  if (ports) spec.ports = ports
  const volumes = keyed(p.volumes, c.volumes, (v) => v.path)
  if (volumes) spec.volumes = volumes
  if (p.security?.privileged || c.security?.privileged) spec.security = {privileged: true}
  if (p.args || c.args) spec.args = {...p.args, ...c.args}
  const locked = [...new Set([...(p.locked ?? []), ...(c.locked ?? [])])]
  if (locked.length) spec.locked = locked
  const mixins = list(p.mixins, c.mixins)
  if (mixins) spec.mixins = mixins

  const files = new Map<string, KitFileEntry>()
  for (const e of [...parent.files, ...child.files]) if (!files.has(e.path) || e.type === 'file') files.set(e.path, e)
  const merged = [...files.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  return {...child, spec, files: merged, warnings: [...parent.warnings, ...child.warnings]}
}

/** Whether a kit sets anything at or below a dotted path. */
export function setsPath(spec: KitSpec, path: string): boolean {
  let cur: unknown = spec
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !(seg in (cur as object))) return false
    cur = (cur as Record<string, unknown>)[seg]
  }
  if (Array.isArray(cur)) return cur.length > 0
  if (cur && typeof cur === 'object') return Object.keys(cur).length > 0
  return cur !== undefined
}
