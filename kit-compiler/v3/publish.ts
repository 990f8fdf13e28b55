// Publishing a v3 descriptor (SPEC-v3 §9): build-phase args resolved and expanded structurally into
// the published descriptor, agent-context files staged, the published-form rules checked, and the
// manifest annotations derived (§9.3). Pure apart from reading the staged context files.
import {readFile} from 'node:fs/promises'
import {join, normalize} from 'node:path'
import {KitValidationError, type Diagnostic} from '../diagnostics.js'
import {STAGE_DIR, T, V3Annotation, DESCRIPTOR_MAX_BYTES, DESCRIPTOR_WARN_BYTES, type Capability, type KitDescriptorV3} from './descriptor.js'
import {NameError, parseProvide} from './names.js'
import type {V3Kit} from './validate.js'

const ARG_REF = /\$\{\{\s*kit\.args\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g
const WHOLE = /^\$\{\{\s*kit\.args\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$/

export interface StagedFile {
  /** Path inside the layer, without a leading slash. */
  path: string
  content: Buffer
}

export interface Published {
  descriptor: KitDescriptorV3
  /** Compact JSON: the `vnd.docker.sandbox.kit.descriptor` annotation and the staged kit.yaml. */
  json: string
  /** The build-phase arg values used, by buildArg name (handed to the recipe as --build-arg). */
  buildArgs: Record<string, string>
  /** Files the layer stages under usr/share/sandbox/kit/<stem>/ (kit.yaml, kit.dockerfile, context files). */
  staged: StagedFile[]
  warnings: Diagnostic[]
}

export class BuildArgError extends Error {
  readonly code = 'E_BUILD_ARG'
}

/** Resolves build-phase args (`buildArg:`) from `supplied` (by arg name) and their defaults. */
export function resolveBuildArgs(d: KitDescriptorV3, supplied: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of Object.keys(supplied)) {
    const a = d.args?.[name]
    if (!a) throw new BuildArgError(`--build-arg ${name}: the descriptor declares no arg "${name}"`)
    if (!a.buildArg) throw new BuildArgError(`--build-arg ${name}: "${name}" is a create-phase arg (no buildArg:), set when the sandbox is created`)
  }
  for (const [name, a] of Object.entries(d.args ?? {})) {
    if (!a.buildArg) continue
    const value = supplied[name] ?? a.default
    if (value === undefined) {
      if (a.required) throw new BuildArgError(`build arg "${name}" is required: pass --build-arg ${name}=VALUE`)
      continue
    }
    if (a.enum && !a.enum.includes(value)) throw new BuildArgError(`build arg "${name}" is "${value}", not one of ${a.enum.join(', ')}`)
    if (a.pattern !== undefined && !new RegExp(`^(?:${a.pattern})$`, 'u').test(value)) throw new BuildArgError(`build arg "${name}" is "${value}", which does not match ${a.pattern}`)
    out[name] = value
  }
  return out
}

/** §6: a whole-value reference adopts the type its spelling names (only where a round trip keeps it). */
function typed(value: string): unknown {
  if (/^-?(0|[1-9][0-9]*)$/.test(value) && Number.isSafeInteger(Number(value))) return Number(value)
  if (/^-?(0|[1-9][0-9]*)\.[0-9]+$/.test(value) && String(Number(value)) === value) return Number(value)
  if (value === 'true' || value === 'false') return value === 'true'
  return value
}

/** Structural expansion of `values` (build-phase args only) into every string value and map key. */
export function expandArgs<T>(node: T, values: Record<string, string>, opts: {typedValues: boolean}): T {
  const sub = (s: string): string => s.replace(ARG_REF, (whole, name: string) => (name in values ? values[name]! : whole))
  const walk = (n: unknown, inConfig: boolean): unknown => {
    if (typeof n === 'string') {
      const m = WHOLE.exec(n)
      if (m && m[1]! in values && inConfig && opts.typedValues) return typed(values[m[1]!]!)
      return sub(n)
    }
    if (Array.isArray(n)) return n.map((v) => walk(v, inConfig))
    if (n && typeof n === 'object') {
      const out: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(n)) {
        const key = sub(k)
        if (key in out) throw new BuildArgError(`two keys expand onto "${key}" (SPEC-v3 §6)`)
        out[key] = walk(v, inConfig || k === 'config')
      }
      return out
    }
    return n
  }
  return walk(node, false) as T
}

/** The published descriptor of a validated kit. */
export async function publish(kit: V3Kit, supplied: Record<string, string> = {}): Promise<Published> {
  const d = kit.descriptor
  const values = resolveBuildArgs(d, supplied)
  const buildArgs: Record<string, string> = {}
  for (const [name, v] of Object.entries(values)) buildArgs[d.args![name]!.buildArg!] = v
  // Build-phase args are answered: their references are expanded; the declarations stay (the installer reads them).
  const expanded = expandArgs(structuredClone(d), values, {typedValues: true})
  const file = kit.source.file
  const fail = (message: string, code: string): never => {
    throw new KitValidationError([{severity: 'error', file, message, code}])
  }
  if (expanded.kind === 'set') fail('kind: set is published by resolving and merging its kits (SPEC-v3 §9.5); kit does not build sets yet', 'set-not-built')
  // Published form: provides literal and versioned (§9.2).
  for (const entry of expanded.provides ?? []) {
    if (entry.includes('${{')) fail(`provides "${entry}" still references a create-phase arg: only build-phase args may stand in provides`, 'published-provides')
    try {
      const p = parseProvide(entry)
      if (!p.version && !expanded.version) fail(`provides "${entry}" has no version and the descriptor no version: fallback (SPEC-v3 §9.2)`, 'published-provides')
    } catch (e) {
      if (e instanceof NameError) fail(`provides "${entry}" after expansion: ${e.message}`, 'published-provides')
      throw e
    }
  }
  if (expanded.version !== undefined && !/^[0-9]+(\.[0-9A-Za-z-]+)*$/.test(expanded.version)) fail(`version "${expanded.version}" after expansion is not version-shaped`, 'published-version')

  // Stage agent-context files and point contentFile at the staged path (§10).
  const stageDir = `${STAGE_DIR}/${kit.source.stem}`
  const staged: StagedFile[] = []
  const stageCaps = async (caps: Capability[]) => {
    for (const c of caps) {
      if (c.type !== T.AgentContext || typeof (c.config as any)?.contentFile !== 'string') continue
      const rel = normalize((c.config as any).contentFile as string).replace(/^\.\//, '')
      const inLayer = `${stageDir}/context/${rel}`
      if (!staged.some((s) => s.path === inLayer)) staged.push({path: inLayer, content: await readFile(join(kit.dir, rel))})
      ;(c.config as any).contentFile = `/${inLayer}`
    }
  }
  for (const item of (expanded.capabilities ?? []) as any[]) await stageCaps(item.group ? item.group.capabilities : [item])

  const json = JSON.stringify(expanded)
  const warnings: Diagnostic[] = []
  const size = Buffer.byteLength(json)
  if (size > DESCRIPTOR_MAX_BYTES) fail(`the published descriptor is ${size} bytes; the limit is ${DESCRIPTOR_MAX_BYTES} (SPEC-v3 §9.4)`, 'descriptor-too-large')
  if (size > DESCRIPTOR_WARN_BYTES) warnings.push({severity: 'warning', file, code: 'descriptor-large', message: `the published descriptor is ${size} bytes, over the 64 KiB budget (SPEC-v3 §9.4)`})
  staged.unshift({path: `${stageDir}/kit.yaml`, content: Buffer.from(json + '\n')})
  if (kit.recipe) staged.splice(1, 0, {path: `${stageDir}/kit.dockerfile`, content: Buffer.from(kit.recipe.text)})
  return {descriptor: expanded, json, buildArgs, staged, warnings}
}

/** The requested capability types, deduplicated and sorted (groups' members included). */
export function capabilityTypes(d: KitDescriptorV3): string[] {
  const types = new Set<string>()
  for (const item of (d.capabilities ?? []) as any[]) for (const c of item.group ? item.group.capabilities : [item]) types.add(c.type)
  return [...types].sort()
}

export const BUILT_BY = JSON.stringify({name: 'kit', version: '0.1.0'})

/** The manifest annotations of §9.3 (sorted by key by the caller). */
export function v3Annotations(p: Published, created: string | undefined): Record<string, string> {
  const d = p.descriptor
  const a: Record<string, string> = {
    [V3Annotation.Descriptor]: p.json,
    [V3Annotation.SchemaVersion]: '3',
    [V3Annotation.BuiltBy]: BUILT_BY,
  }
  const types = capabilityTypes(d)
  if (types.length) a[V3Annotation.Capabilities] = types.join(',')
  if (d.displayName) a['org.opencontainers.image.title'] = d.displayName
  if (d.description) a['org.opencontainers.image.description'] = d.description
  if (d.author) a['org.opencontainers.image.authors'] = d.author
  if (d.sourceUrl) a['org.opencontainers.image.source'] = d.sourceUrl
  if (d.licenses?.length) a['org.opencontainers.image.licenses'] = d.licenses.join(',')
  let version = d.version
  if (!version) {
    const versions = new Set((d.provides ?? []).map((e) => e.split('@')[1]).filter((v): v is string => !!v))
    if (versions.size === 1) version = [...versions][0]
  }
  if (version) a['org.opencontainers.image.version'] = version
  if (created) a['org.opencontainers.image.created'] = created
  return a
}

/**
 * §9.6: one `deb/<package>@<version>` provide per installed package of a workload's dpkg
 * database: the upstream dotted-numeric core (at most three parts), no epoch or revision; a tilde
 * in the upstream part drops the package; names that are not capability names are dropped.
 */
export function derivedDebProvides(status: string): string[] {
  const out: string[] = []
  for (const stanza of status.split(/\n\s*\n/)) {
    const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'mi').exec(stanza)?.[1]?.trim()
    const pkg = field('Package')
    const st = field('Status')
    const version = field('Version')
    if (!pkg || !version || !st || !/\binstalled$/.test(st) || !/^install ok installed$/.test(st)) continue
    const noEpoch = version.replace(/^\d+:/, '')
    const dash = noEpoch.lastIndexOf('-')
    const upstream = dash > 0 ? noEpoch.slice(0, dash) : noEpoch
    if (upstream.includes('~')) continue
    const core = /^(\d+(?:\.\d+){0,2})/.exec(upstream)?.[1]
    if (!core) continue
    if (!/^[a-z0-9](?:[a-z0-9.+-]*[a-z0-9+])?$/.test(pkg)) continue
    out.push(`deb/${pkg}@${core}`)
  }
  return [...new Set(out)].sort()
}

/** Adds derived provides to a published workload descriptor (and its staged kit.yaml). */
export function withDerivedProvides(p: Published, derived: string[]): Published {
  if (!derived.length) return p
  const descriptor = {...p.descriptor, provides: [...(p.descriptor.provides ?? []), ...derived]}
  const json = JSON.stringify(descriptor)
  const staged = p.staged.map((s) => (s.path.endsWith('/kit.yaml') ? {...s, content: Buffer.from(json + '\n')} : s))
  return {...p, descriptor, json, staged}
}
