// SPEC-v3 §5.3 resolution as a pure function: a closed-set check of a list of kits (their
// published descriptors and the references they are consumed by), and their composition order
// from the dependency graph. Errors name the kits involved.
import {displayName, NameError, parseConflict, parseProvide, parseRequirement, satisfies, VERSION, type Provide, type Requirement} from './names.js'

export interface ResolveInput {
  /** The reference the kit is consumed by (names it in errors; a version-shaped tag is its version). */
  ref: string
  descriptor: {kind: string; version?: string; provides?: string[]; requires?: string[]; integrates?: string[]; conflicts?: string[]}
}

export interface ResolveOptions {
  /** A set being published may have no workload (§3.4); a composition needs exactly one. Default 'one'. */
  workloads?: 'one' | 'at-most-one'
}

export interface Resolved {
  /** The kits in composition order: the workload first, then providers before the kits that require or integrate with them. */
  order: ResolveInput[]
  /** name → the ref providing it, with the version resolution judged. */
  providers: Record<string, {ref: string; version?: string}>
}

export class ResolutionError extends Error {
  readonly code = 'E_RESOLUTION'
}

/** The tag of a reference when it is version-shaped (`gh:2.98.0` → 2.98.0). */
export function referenceVersion(ref: string): string | undefined {
  const at = ref.indexOf('@')
  const name = at >= 0 ? ref.slice(0, at) : ref
  const colon = name.lastIndexOf(':')
  if (colon <= name.lastIndexOf('/')) return undefined
  const tag = name.slice(colon + 1).replace(/^v(?=\d)/, '')
  return VERSION.test(tag) ? tag : undefined
}

export function resolveKits(kits: ResolveInput[], opts: ResolveOptions = {}): Resolved {
  const kindOf = (k: ResolveInput) => (k.descriptor.kind === 'sandbox' ? 'workload' : k.descriptor.kind)
  const workloads = kits.filter((k) => kindOf(k) === 'workload')
  if (workloads.length > 1) throw new ResolutionError(`a composition has exactly one workload; ${workloads.map((k) => k.ref).join(' and ')} are both workloads`)
  if (workloads.length === 0 && (opts.workloads ?? 'one') === 'one') throw new ResolutionError(`a composition needs exactly one workload kit; ${kits.map((k) => k.ref).join(', ') || 'the set'} has none`)
  for (const k of kits) if (!['workload', 'mixin'].includes(kindOf(k))) throw new ResolutionError(`${k.ref}: kind ${JSON.stringify(k.descriptor.kind)} cannot be composed (workload or mixin)`)

  const parse = <T>(k: ResolveInput, what: string, entry: string, f: (e: string) => T): T => {
    try {
      return f(entry)
    } catch (e) {
      if (e instanceof NameError) throw new ResolutionError(`${k.ref}: ${what} "${entry}": ${e.message}`)
      throw e
    }
  }
  // Providers: one per normalised name.
  const providers = new Map<string, {kit: ResolveInput; provide: Provide}>()
  for (const k of kits) {
    const tagVersion = referenceVersion(k.ref)
    for (const entry of k.descriptor.provides ?? []) {
      const p = parse(k, 'provides', entry, (e) => parseProvide(e, {allowDerived: true}))
      const version = p.version ?? tagVersion ?? k.descriptor.version
      const other = providers.get(p.name)
      if (other && other.kit !== k) {
        throw new ResolutionError(`${displayName(p.name)} is provided by both ${other.kit.ref} and ${k.ref}: one name has one provider (SPEC-v3 §5.3)`)
      }
      providers.set(p.name, {kit: k, provide: {name: p.name, version}})
    }
  }
  const edges = new Map<ResolveInput, Set<ResolveInput>>(kits.map((k) => [k, new Set()]))
  const show = (r: Requirement) => `${displayName(r.name)}${r.constraints.length ? ' ' + r.constraints.map((c) => `${c.op} ${c.version}`).join(', ') : ''}`
  for (const k of kits) {
    for (const entry of k.descriptor.requires ?? []) {
      const r = parse(k, 'requires', entry, parseRequirement)
      const p = providers.get(r.name)
      if (!p || p.kit === k) throw new ResolutionError(`${k.ref} requires ${show(r)}, which no other kit of the set provides (${kits.map((x) => x.ref).join(', ')})`)
      if (!satisfies(p.provide, r)) throw new ResolutionError(`${k.ref} requires ${show(r)}, but ${p.kit.ref} provides ${displayName(r.name)}${p.provide.version ? `@${p.provide.version}` : ' without a version'}`)
      edges.get(k)!.add(p.kit)
    }
    for (const entry of k.descriptor.integrates ?? []) {
      const r = parse(k, 'integrates', entry, parseRequirement)
      const p = providers.get(r.name)
      if (!p || p.kit === k) continue
      if (!satisfies(p.provide, r)) throw new ResolutionError(`${k.ref} integrates with ${show(r)}, and ${p.kit.ref} provides ${displayName(r.name)}${p.provide.version ? `@${p.provide.version}` : ' without a version'}: an integration that would break fails (SPEC-v3 §5.3)`)
      edges.get(k)!.add(p.kit)
    }
    for (const entry of k.descriptor.conflicts ?? []) {
      const name = parse(k, 'conflicts', entry, parseConflict)
      const p = providers.get(name)
      if (p && p.kit !== k) throw new ResolutionError(`${k.ref} conflicts with ${displayName(name)}, which ${p.kit.ref} provides`)
    }
  }
  // Topological order: providers first; among kits ready at once, the workload, then by reference (never by input order).
  const order: ResolveInput[] = []
  const placed = new Set<ResolveInput>()
  const rank = (k: ResolveInput) => `${kindOf(k) === 'workload' ? 0 : 1}\u0000${k.ref}`
  while (order.length < kits.length) {
    const ready = kits.filter((k) => !placed.has(k) && [...edges.get(k)!].every((d) => placed.has(d))).sort((a, b) => (rank(a) < rank(b) ? -1 : rank(a) > rank(b) ? 1 : 0))
    if (!ready.length) {
      const cycle = kits.filter((k) => !placed.has(k)).map((k) => k.ref)
      throw new ResolutionError(`the kits ${cycle.join(', ')} require each other in a cycle: no composition order exists`)
    }
    order.push(ready[0]!)
    placed.add(ready[0]!)
  }
  const out: Resolved['providers'] = {}
  for (const [name, p] of [...providers].sort(([a], [b]) => (a < b ? -1 : 1))) out[name] = {ref: p.kit.ref, version: p.provide.version}
  return {order, providers: out}
}
