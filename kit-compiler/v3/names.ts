// SPEC-v3 §5: capability names (bare or namespace-qualified), versions, and the provides /
// requires / integrates / conflicts grammar, with the `Satisfies` predicate resolution uses.
// Pure functions: no I/O.

export const DEFAULT_NAMESPACE = 'com.docker.kit'
/** Single-label namespaces the spec reserves for derived provides (§9.6): never authored. */
export const DERIVED_NAMESPACES = ['deb', 'apk'] as const

const BASE = /^[a-z0-9](?:[a-z0-9.+-]*[a-z0-9+])?$/
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/
export const VERSION = /^[0-9]+(?:\.[0-9A-Za-z-]+)*$/

export type Op = '>=' | '>' | '<=' | '<' | '='
export interface Constraint {
  op: Op
  version: string
}
export interface Provide {
  /** Normalised (`gh` → `com.docker.kit/gh`). */
  name: string
  version?: string
}
export interface Requirement {
  name: string
  constraints: Constraint[]
}

export class NameError extends Error {}

/** Checks a capability name; returns it normalised into its namespace. */
export function normalizeName(raw: string, opts: {allowDerived?: boolean} = {}): string {
  const slash = raw.indexOf('/')
  const ns = slash >= 0 ? raw.slice(0, slash) : DEFAULT_NAMESPACE
  const base = slash >= 0 ? raw.slice(slash + 1) : raw
  if (!BASE.test(base)) {
    throw new NameError(`"${base}" is not a capability name: lower-case letters, digits, hyphens, dots and pluses, starting with a letter or digit, not ending on a hyphen or dot`)
  }
  if ((DERIVED_NAMESPACES as readonly string[]).includes(ns)) {
    if (!opts.allowDerived) throw new NameError(`the ${ns}/ namespace is reserved for provides derived from package databases at publish (SPEC-v3 §5.1, §9.6); do not author it`)
  } else if (slash >= 0) {
    const labels = ns.split('.')
    if (labels.length < 2 || ns.length > 253 || !labels.every((l) => LABEL.test(l))) {
      throw new NameError(`namespace "${ns}" is not reverse-DNS (two labels or more, each alphanumeric at both ends, hyphens inside, at most 63 characters)`)
    }
  }
  return `${ns}/${base}`
}

/** `gh` for `com.docker.kit/gh`; other namespaces stay qualified. */
export function displayName(normalized: string): string {
  return normalized.startsWith(`${DEFAULT_NAMESPACE}/`) ? normalized.slice(DEFAULT_NAMESPACE.length + 1) : normalized
}

export function parseProvide(entry: string, opts: {allowDerived?: boolean} = {}): Provide {
  const at = entry.lastIndexOf('@')
  if (at < 0) return {name: normalizeName(entry.trim(), opts)}
  const version = entry.slice(at + 1).trim()
  if (!VERSION.test(version)) throw new NameError(`version "${version}" is not version-shaped (dotted segments starting with a number, no "v" prefix)`)
  return {name: normalizeName(entry.slice(0, at).trim(), opts), version}
}

/** `name` or `name <op> version[, <op> version]...`; refuses an unsatisfiable set. */
export function parseRequirement(entry: string): Requirement {
  const m = /^\s*([^\s<>=,@]+)\s*(.*)$/s.exec(entry)
  if (!m) throw new NameError(`"${entry}" is not "name" or "name <op> version"`)
  const name = normalizeName(m[1]!, {allowDerived: true})
  const rest = m[2]!.trim()
  const constraints: Constraint[] = []
  if (rest) {
    for (const part of rest.split(',')) {
      const c = /^\s*(>=|<=|>|<|=)\s*([^\s,]+)\s*$/.exec(part)
      if (!c) throw new NameError(`"${part.trim()}" is not a constraint (<op> version, <op> one of >= > <= < =)`)
      if (!VERSION.test(c[2]!)) throw new NameError(`version "${c[2]}" is not version-shaped (dotted segments starting with a number, no "v" prefix)`)
      constraints.push({op: c[1] as Op, version: c[2]!})
    }
    const why = unsatisfiable(constraints)
    if (why) throw new NameError(`constraints of "${entry.trim()}" can never be met: ${why}`)
  }
  return {name, constraints}
}

/** A conflicts entry: a bare name. */
export function parseConflict(entry: string): string {
  if (/[\s<>=@,]/.test(entry.trim())) throw new NameError(`"${entry}" must be a bare capability name (no version or constraint)`)
  return normalizeName(entry.trim(), {allowDerived: true})
}

/** Per-segment: numeric segments numerically, others lexically; a prefix orders first. */
export function compareVersions(a: string, b: string): number {
  const x = a.split('.')
  const y = b.split('.')
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i]
    const q = y[i]
    if (p === undefined) return -1
    if (q === undefined) return 1
    const numeric = /^\d+$/.test(p) && /^\d+$/.test(q)
    const c = numeric ? (BigInt(p) < BigInt(q) ? -1 : BigInt(p) > BigInt(q) ? 1 : 0) : p < q ? -1 : p > q ? 1 : 0
    if (c) return c
  }
  return 0
}

function holds(version: string, c: Constraint): boolean {
  const d = compareVersions(version, c.version)
  switch (c.op) {
    case '>=': return d >= 0
    case '>': return d > 0
    case '<=': return d <= 0
    case '<': return d < 0
    case '=': return d === 0
  }
}

/** Names match and the provided version holds every constraint; an unversioned provide meets only an unconstrained requirement. */
export function satisfies(provide: Provide, req: Requirement): boolean {
  if (provide.name !== req.name) return false
  if (!req.constraints.length) return true
  if (provide.version === undefined) return false
  return req.constraints.every((c) => holds(provide.version!, c))
}

function unsatisfiable(cs: Constraint[]): string | undefined {
  const pins = cs.filter((c) => c.op === '=')
  for (const p of pins) {
    const broken = cs.find((c) => !holds(p.version, c))
    if (broken) return `= ${p.version} and ${broken.op} ${broken.version}`
  }
  let lo: Constraint | undefined
  let hi: Constraint | undefined
  for (const c of cs) {
    if (c.op === '>=' || c.op === '>') {
      const d = lo ? compareVersions(c.version, lo.version) : 1
      if (d > 0 || (d === 0 && c.op === '>')) lo = c
    } else if (c.op === '<=' || c.op === '<') {
      const d = hi ? compareVersions(c.version, hi.version) : -1
      if (d < 0 || (d === 0 && c.op === '<')) hi = c
    }
  }
  if (lo && hi) {
    const d = compareVersions(lo.version, hi.version)
    if (d > 0 || (d === 0 && (lo.op === '>' || hi.op === '<'))) return `${lo.op} ${lo.version} and ${hi.op} ${hi.version}`
  }
  return undefined
}
