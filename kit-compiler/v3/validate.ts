// Validating a v3 kit directory (SPEC-v3 §11): find the descriptor (./source.ts), decode it
// strictly against schemas/kit-v3*.schema.json, then the rules a schema cannot say. Every problem
// is a diagnostic at the file, line and column of the offending key or value, in the file the
// author wrote (for a `# kit:` comment block, in the Dockerfile).
import {stat} from 'node:fs/promises'
import {isAbsolute, join, normalize, posix} from 'node:path'
import {isAlias, isMap, isPair, isScalar, isSeq, type Node} from 'yaml'
import {type Diagnostic} from '../diagnostics.js'
import type {PathSegment} from '../source.js'
import {CONFIG_LESS, DESCRIPTOR_MAX_BYTES, DESCRIPTOR_WARN_BYTES, SINGLETONS, T, type KitDescriptorV3} from './descriptor.js'
import {NameError, normalizeName, parseConflict, parseProvide, parseRequirement, VERSION} from './names.js'
import {checkConfigSchema, checkDescriptorSchema, hasConfigSchema, type Locate} from './schema.js'
import {at, display, findV3Descriptor, parseV3, readV3Source, type Located, type V3Source} from './source.js'

export interface V3Recipe {
  /** companion: `<stem>.dockerfile` or `dockerfile:`; inline: `build:`; comment: the Dockerfile itself. */
  form: 'companion' | 'inline' | 'comment'
  /** The Dockerfile's path (companion, comment). */
  path?: string
  text: string
}

export interface V3Kit {
  dir: string
  source: V3Source
  /** The authored descriptor, decoded (scalars typed as the grammar says). */
  descriptor: KitDescriptorV3
  recipe?: V3Recipe
  warnings: Diagnostic[]
}

export interface V3ValidationResult {
  valid: boolean
  diagnostics: Diagnostic[]
  kit?: V3Kit
}

/** Fields of the grammar that are not strings: every other scalar is read as written, as Go's decoder does. */
const NON_STRING = new Set(['optional', 'required', 'proxyManaged', 'background', 'overwrite', 'tmpfs', 'passthrough', 'container', 'cpu'])
const ARG_REF = /\$\{\{\s*kit\.args\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g
const ENV_REF = /\$\{\{\s*kit\.env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g
const ANY_REF = /\$\{\{([^}]*)\}\}/g
const WHOLE_ARG_REF = /^\$\{\{\s*kit\.args\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$/

/** Validates the v3 kit in `dir`; undefined when `dir` holds no v3 descriptor. */
export async function validateV3Dir(dir: string): Promise<V3ValidationResult | undefined> {
  const found = await findV3Descriptor(dir)
  if (!found) return undefined
  if (found.error) return done([{severity: 'error', file: display(dir), code: 'ambiguous-descriptor', message: found.error}])
  const {source, error} = await readV3Source(dir, found.path!, found.form!)
  if (!source) return done([error!])
  return validateV3Source(source)
}

export interface V3ValidateOptions {
  /**
   * A published descriptor (read from a manifest annotation, §11 ValidatePublished): no files to
   * check, and the published-form rules apply (kind never set, provides literal and versioned).
   */
  published?: boolean
}

export async function validateV3Source(src: V3Source, opts: V3ValidateOptions = {}): Promise<V3ValidationResult> {
  const parsed = parseV3(src)
  const diagnostics = [...parsed.diagnostics]
  const loc = parsed.loc
  if (!loc) return done(diagnostics)
  const value = decode(loc)
  const file = src.file
  const locate = (p: readonly PathSegment[], which: 'key' | 'value' = 'value') => at(loc, p, which)
  const error = (path: readonly PathSegment[], message: string, code: string, which: 'key' | 'value' = 'value'): void => {
    diagnostics.push({severity: 'error', file, ...locate(path, which), message, code})
  }
  const warn = (path: readonly PathSegment[], message: string, code: string): void => {
    diagnostics.push({severity: 'warning', file, ...locate(path), message, code})
  }

  const svNode = loc.spec.doc.get('schemaVersion', true) as {type?: string; value?: unknown} | undefined
  if (svNode && typeof svNode.value === 'number') warn(['schemaVersion'], 'schemaVersion should be the string "3": write schemaVersion: "3"', 'schema-version')
  if (value.schemaVersion !== '3') {
    error(value.schemaVersion === undefined ? [] : ['schemaVersion'], value.schemaVersion === undefined
      ? 'missing required key "schemaVersion" (write schemaVersion: "3")'
      : `unsupported schemaVersion ${JSON.stringify(value.schemaVersion)} in a v3 descriptor (write "3")`, 'schema-version', value.schemaVersion === undefined ? 'key' : 'value')
    return done(diagnostics)
  }
  diagnostics.push(...checkDescriptorSchema(value, file, locate))
  if (diagnostics.some((d) => d.severity === 'error')) return done(diagnostics)
  const d = value as unknown as KitDescriptorV3

  checkTopLevel(d, src, error, locate)
  const args = checkArgs(d, error)
  checkReferences(value, args, error)
  checkRelations(d, error, opts.published === true && d.kind === 'workload')
  await checkCapabilities(d, src, error, locate, (list) => diagnostics.push(...list), opts)
  checkKits(d, error)

  const size = Buffer.byteLength(JSON.stringify(d))
  if (size > DESCRIPTOR_MAX_BYTES) error([], `descriptor is ${size} bytes as JSON; the limit is ${DESCRIPTOR_MAX_BYTES} (512 KiB, SPEC-v3 §9.4): move bulk into layers`, 'descriptor-too-large', 'key')
  else if (size > DESCRIPTOR_WARN_BYTES) warn([], `descriptor is ${size} bytes as JSON, over the 64 KiB budget (SPEC-v3 §9.4)`, 'descriptor-large')

  if (opts.published) checkPublished(d, error)
  let recipe: V3Recipe | undefined
  if (!opts.published && !diagnostics.some((x) => x.severity === 'error')) {
    recipe = await findRecipe(d, src, error)
  }
  const kit: V3Kit = {dir: src.dir, source: src, descriptor: d, recipe, warnings: diagnostics.filter((x) => x.severity === 'warning')}
  return done(diagnostics, kit)
}

function done(diagnostics: Diagnostic[], kit?: V3Kit): V3ValidationResult {
  const valid = !diagnostics.some((d) => d.severity === 'error')
  const sorted = [...diagnostics].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0))
  return {valid, diagnostics: sorted, kit: valid ? kit : undefined}
}

/** The plain value of the document, with scalars in string fields read as written (`version: 1.20` is "1.20"). */
function decode(loc: Located): Record<string, any> {
  const toJS = (node: unknown, key: string | undefined, opaque: boolean): unknown => {
    if (isMap(node)) {
      const out: Record<string, unknown> = {}
      const typeNode = node.items.find((p) => isScalar(p.key) && p.key.value === 'type')
      const type = typeNode && isScalar(typeNode.value) ? String(typeNode.value.value) : undefined
      for (const pair of node.items) {
        if (!isPair(pair)) continue
        const k = String(isScalar(pair.key) ? pair.key.value : pair.key)
        const childOpaque = opaque || (k === 'config' && type !== undefined && !hasConfigSchema(type)) || k === 'structure'
        out[k] = toJS(pair.value, k, childOpaque)
      }
      return out
    }
    if (isAlias(node)) return toJS(node.resolve(loc.spec.doc), key, opaque)
    if (isSeq(node)) return node.items.map((n) => toJS(n, key, opaque))
    if (isScalar(node)) {
      const v = node.value
      if (!opaque && (typeof v === 'number' || typeof v === 'boolean') && !(key && NON_STRING.has(key))) {
        return typeof node.source === 'string' ? node.source : String(v)
      }
      if (typeof v === 'bigint') return Number(v)
      return v
    }
    if (node && typeof (node as Node).toJSON === 'function') return (node as any).toJSON()
    return node ?? null
  }
  return toJS(loc.spec.doc.contents, undefined, false) as Record<string, any>
}

type ErrorAt = (path: readonly PathSegment[], message: string, code: string, which?: 'key' | 'value') => void

function checkTopLevel(d: KitDescriptorV3, src: V3Source, error: ErrorAt, locate: Locate): void {
  const recipes = (['build', 'dockerfile', 'kits'] as const).filter((k) => d[k] !== undefined)
  const pos = (k: string) => locate([k], 'key')
  const later = [...recipes].sort((a, b) => pos(a).line - pos(b).line || pos(a).column - pos(b).column)
  if (recipes.length > 1) error([later[later.length - 1]!], `${recipes.join(' and ')} are mutually exclusive: a kit's content recipe lives in exactly one place (SPEC-v3 §3.4, §4)`, 'recipe-exclusive', 'key')
  if (src.form === 'comment') {
    for (const k of recipes) error([k], `a comment descriptor must not declare ${k}: the Dockerfile it sits in is the recipe (SPEC-v3 §3.3)`, 'comment-recipe', 'key')
  }
  if (d.dockerfile !== undefined) {
    const p = d.dockerfile
    if (isAbsolute(p) || p.startsWith('/')) error(['dockerfile'], `dockerfile "${p}" must be a path relative to the descriptor's directory`, 'dockerfile-path')
    else if (normalize(p).split(/[\\/]/)[0] === '..') error(['dockerfile'], `dockerfile "${p}" escapes the descriptor's directory (the build context's root)`, 'dockerfile-path')
  }
  if (d.version !== undefined && !VERSION.test(d.version)) {
    const m = WHOLE_ARG_REF.exec(d.version)
    if (!m) error(['version'], `version "${d.version}" is not version-shaped (dotted segments starting with a number, no "v" prefix) nor a build-phase arg reference`, 'version')
    else if (!d.args?.[m[1]!]?.buildArg) error(['version'], `version references \${{ kit.args.${m[1]} }}, which is not a build-phase arg (declare it with buildArg:)`, 'version')
  }
  if (d.licenses) {
    d.licenses.forEach((l, i) => {
      if (!/^[A-Za-z0-9.+-]+( (AND|OR|WITH) [A-Za-z0-9.+-]+)*$/.test(l) && !/^\(/.test(l)) error(['licenses', i], `license "${l}" is not an SPDX identifier or expression`, 'license')
    })
  }
}

function checkArgs(d: KitDescriptorV3, error: ErrorAt): Set<string> {
  const names = new Set<string>()
  for (const [name, a] of Object.entries(d.args ?? {})) {
    names.add(name)
    const p = ['args', name]
    if (a.default !== undefined && a.required) error([...p, 'required'], `args.${name}: default and required are mutually exclusive`, 'arg-exclusive', 'key')
    if (a.enum && a.pattern !== undefined) error([...p, 'pattern'], `args.${name}: enum and pattern are mutually exclusive`, 'arg-exclusive', 'key')
    if (a.env !== undefined && a.buildArg !== undefined) error([...p, 'buildArg'], `args.${name}: env and buildArg are mutually exclusive (an arg resolves in one phase)`, 'arg-exclusive', 'key')
    let re: RegExp | undefined
    if (a.pattern !== undefined) {
      try {
        re = new RegExp(`^(?:${a.pattern})$`, 'u')
      } catch (e) {
        error([...p, 'pattern'], `args.${name}.pattern does not compile: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`, 'arg-pattern')
      }
    }
    if (a.default !== undefined) {
      if (a.enum && !a.enum.includes(a.default)) error([...p, 'default'], `args.${name}.default "${a.default}" is not one of its enum values`, 'arg-default')
      if (re && !re.test(a.default)) error([...p, 'default'], `args.${name}.default "${a.default}" does not match its pattern`, 'arg-default')
    }
  }
  return names
}

/** Every `${{ kit.args.X }}` names a declared arg; every `${{ … }}` is an args or env reference. */
function checkReferences(value: Record<string, any>, declared: Set<string>, error: ErrorAt): void {
  const walk = (node: unknown, path: PathSegment[]): void => {
    if (typeof node === 'string') {
      if (!node.includes('${{')) return
      for (const m of node.matchAll(ANY_REF)) {
        const inner = m[1]!.trim()
        if (/^kit\.args\.[A-Za-z_][A-Za-z0-9_]*$/.test(inner)) {
          const name = inner.slice('kit.args.'.length)
          if (!declared.has(name)) error(path, `references \${{ kit.args.${name} }}, which args: does not declare (SPEC-v3 §6)`, 'undeclared-arg')
        } else if (/^kit\.env\.[A-Za-z_][A-Za-z0-9_]*$/.test(inner)) {
          if (path[0] !== 'capabilities' || !path.includes('config')) error(path, `\${{ kit.env.* }} may only appear in capability config values (SPEC-v3 §6.1)`, 'env-reference')
        } else {
          error(path, `malformed reference "${m[0]}": write \${{ kit.args.NAME }} or \${{ kit.env.NAME }}`, 'malformed-reference')
        }
      }
      return
    }
    if (Array.isArray(node)) node.forEach((v, i) => walk(v, [...path, i]))
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (path.length === 0 && k === 'args') continue
        if (k.includes('${{')) walk(k, [...path, k])
        walk(v, [...path, k])
      }
    }
  }
  walk(value, [])
}

function checkRelations(d: KitDescriptorV3, error: ErrorAt, allowDerived = false): void {
  const provided = new Map<string, number>()
  ;(d.provides ?? []).forEach((entry, i) => {
    try {
      const ref = entry.includes('${{')
      const name = ref ? entry.slice(0, entry.indexOf('@') >= 0 ? entry.indexOf('@') : entry.length).trim() : undefined
      if (ref && name === undefined) return
      if (ref && !/^[^@]*@\$\{\{[^}]*\}\}$/.test(entry.trim())) {
        error(['provides', i], `provides "${entry}": an arg reference may stand only for the whole version (name@\${{ kit.args.X }})`, 'provides')
        return
      }
      const p = ref ? {name: normalizeName(name!)} : parseProvide(entry, {allowDerived})
      const seen = provided.get(p.name)
      if (seen !== undefined) error(['provides', i], `provides names ${p.name} twice (entries ${seen} and ${i})`, 'provides-duplicate')
      provided.set(p.name, i)
    } catch (e) {
      if (!(e instanceof NameError)) throw e
      error(['provides', i], `provides "${entry}": ${e.message}`, 'provides')
    }
  })
  for (const field of ['requires', 'integrates', 'conflicts'] as const) {
    ;(d[field] ?? []).forEach((entry, i) => {
      if (entry.includes('${{')) {
        error([field, i], `${field} must stay literal: an arg reference would make resolution depend on caller input (SPEC-v3 §5)`, 'relation-literal')
        return
      }
      try {
        if (field === 'conflicts') parseConflict(entry)
        else parseRequirement(entry)
      } catch (e) {
        if (!(e instanceof NameError)) throw e
        error([field, i], `${field} "${entry}": ${e.message}`, field)
      }
    })
  }
}

function checkKits(d: KitDescriptorV3, error: ErrorAt): void {
  if (d.kind === 'set' && !d.kits) error(['kind'], 'a kind: set descriptor must list at least one kit in kits: (SPEC-v3 §3.4)', 'set-has-kits')
  if (d.kits && d.kits.length === 0) error(['kits'], 'kits: must list at least one kit (SPEC-v3 §3.4)', 'set-has-kits')
  const seen = new Map<string, number>()
  ;(d.kits ?? []).forEach((k, i) => {
    const ref = k.ref.trim()
    if (/^(\.{1,2}\/|\/|~|\.$)/.test(ref)) error(['kits', i, 'ref'], `kits[${i}].ref "${k.ref}" is a local path: a set's kits must be registry references, resolvable from the manifest alone (SPEC-v3 §3.4)`, 'kit-ref')
    else if (/^git\+|:\/\/|^git@|\.git(#.*)?$/.test(ref)) error(['kits', i, 'ref'], `kits[${i}].ref "${k.ref}" is a git URL: a set's kits must be registry references (SPEC-v3 §3.4)`, 'kit-ref')
    else if (/\s/.test(ref.replace(ANY_REF, 'x'))) error(['kits', i, 'ref'], `kits[${i}].ref "${k.ref}" is not a reference`, 'kit-ref')
    const prev = seen.get(ref)
    if (prev !== undefined) error(['kits', i, 'ref'], `kits[${i}] names the same kit as kits[${prev}] (${ref})`, 'kit-duplicate')
    seen.set(ref, i)
  })
}

interface Entry {
  type: string
  config: any
  optional?: boolean
  configStated: boolean
  path: PathSegment[]
}

const HOST = /^(\*\*?|(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*|\[[0-9a-f:.]+\])(:\d{1,5})?$/i

async function checkCapabilities(d: KitDescriptorV3, src: V3Source, error: ErrorAt, locate: Locate, push: (d: Diagnostic[]) => void, opts: V3ValidateOptions): Promise<void> {
  const blocks: Entry[][] = [[]]
  const all: Entry[] = []
  ;(d.capabilities ?? []).forEach((item: any, i) => {
    if (item.group) {
      const block: Entry[] = []
      item.group.capabilities.forEach((m: any, j: number) => {
        const path = ['capabilities', i, 'group', 'capabilities', j]
        if ('optional' in m) error([...path, 'optional'], 'a group member must not state optional (even false): the group is selected as a whole (SPEC-v3 §7.1.1)', 'group-member-optional', 'key')
        block.push({type: m.type, config: m.config, optional: item.group.optional, configStated: 'config' in m, path})
      })
      blocks.push(block)
      all.push(...block)
    } else {
      const e = {type: item.type, config: item.config, optional: item.optional, configStated: 'config' in item, path: ['capabilities', i]}
      blocks[0]!.push(e)
      all.push(e)
    }
  })

  for (const block of blocks) {
    const byType = new Map<string, Entry>()
    const keys = new Map<string, Entry>()
    const exact = new Map<string, Entry>()
    for (const e of block) {
      const canon = JSON.stringify([e.type, e.config ?? null])
      if (exact.has(canon)) {
        error(e.path, `duplicate capability entry: the same ${e.type} request as ${pathString(exact.get(canon)!.path)} (SPEC-v3 §7.1)`, 'capability-duplicate', 'key')
        continue
      }
      exact.set(canon, e)
      if (SINGLETONS.has(e.type)) {
        const first = byType.get(e.type)
        if (first) error(e.path, `${e.type} is a singleton: at most one entry per declaration block (first at ${pathString(first.path)}) (SPEC-v3 §7.1)`, 'capability-singleton', 'key')
        byType.set(e.type, e)
      }
      for (const key of instanceKeys(e)) {
        const first = keys.get(key)
        if (first) error(e.path, `${e.type} asks twice for ${key.slice(key.indexOf(' ') + 1)} (first at ${pathString(first.path)}); one entry per instance (SPEC-v3 §7.1)`, 'capability-instance-duplicate', 'key')
        else keys.set(key, e)
      }
    }
  }
  const n1 = all.find((e) => e.type === T.NetworkPolicy1)
  const n2 = all.find((e) => e.type === T.NetworkPolicy2)
  if (n1 && n2) error(n1.path.length > n2.path.length || pathString(n1.path) > pathString(n2.path) ? n1.path : n2.path,
    'network-policy@1 and network-policy@2 are exclusive: state one of them (SPEC-v3 §7.1)', 'network-policy-exclusive', 'key')

  for (const e of all) {
    const cfgPath = [...e.path, 'config']
    if (e.type === T.Sbx && d.kind === 'mixin') error(e.path, 'com.docker.sandbox/sbx@1 is workload-only', 'sbx-mixin', 'key')
    if (CONFIG_LESS.has(e.type)) {
      if (e.configStated) error(cfgPath, `${e.type} takes no config (not even an empty one)`, 'config-less', 'key')
      continue
    }
    if (!hasConfigSchema(e.type)) continue
    // Entries whose config references an arg are checked on the effective form, at create (§6, §11).
    if (JSON.stringify(e.config ?? {}).includes('${{')) continue
    const schemaErrors = checkConfigSchema(e.type, e.config, cfgPath, src.file, locate)
    if (schemaErrors.length) {
      push(schemaErrors)
      continue
    }
    await checkConfig(e, src, error, opts)
  }
  checkInjectDomains(all, error)
}

/** Per-type rules of the capability pages that a schema cannot say. */
async function checkConfig(e: Entry, src: V3Source, error: ErrorAt, opts: V3ValidateOptions = {}): Promise<void> {
  const c = e.config ?? {}
  const p = [...e.path, 'config']
  switch (e.type) {
    case T.NetworkPolicy1:
    case T.NetworkPolicy2:
      for (const phase of ['install', 'runtime'] as const) {
        for (const list of ['allow', 'deny'] as const) {
          ;(c[phase]?.[list] ?? []).forEach((entry: any, i: number) => {
            const ep = [...p, phase, list, i]
            const hosts: string[] = typeof entry === 'string' ? [entry] : entry.hosts
            hosts.forEach((h, j) => {
              if (!HOST.test(h)) error(typeof entry === 'string' ? ep : [...ep, 'hosts', j], `${phase}.${list}: "${h}" is not a domain pattern (host, *.domain, * or **, optionally :port)`, 'network-host')
            })
            if (typeof entry === 'string') return
            if (entry.paths && !entry.methods) error([...ep, 'paths'], 'paths requires methods: say which methods a path bounds (ANY for all)', 'network-paths-methods', 'key')
            if (entry.methods?.includes('ANY') && entry.methods.length > 1) error([...ep, 'methods'], 'methods: ANY stands alone', 'network-methods')
            if (list === 'allow' && (entry.methods || entry.paths)) {
              hosts.forEach((h, j) => {
                if (h.includes('*')) error([...ep, 'hosts', j], `a bounded allow entry names hosts literally: "${h}" is a pattern`, 'network-bounded-pattern')
              })
            }
          })
        }
      }
      return
    case T.Credential: {
      if (!c.apiKey && !c.oauth) error(p, 'credential@1 needs apiKey or oauth: how the proxy presents proof', 'credential-shape', 'key')
      if (c.apiKey && !c.apiKey.name && !(c.apiKey.inject?.length)) error([...p, 'apiKey'], 'an inject-only apiKey (no name) needs inject rules', 'credential-inject', 'key')
      ;(c.apiKey?.inject ?? []).forEach((r: any, i: number) => {
        if (r.scheme === 'basic' && r.header) error([...p, 'apiKey', 'inject', i, 'header'], 'scheme: basic presents the credential in Authorization itself; drop header', 'credential-inject', 'key')
        if (r.format !== undefined && !r.format.includes('%s')) error([...p, 'apiKey', 'inject', i, 'format'], `format "${r.format}" must contain %s where the credential goes`, 'credential-inject')
      })
      return
    }
    case T.Lifecycle: {
      const empty = !(c.install?.length || c.startup?.length || c.files?.length || c.interactive?.length)
      if (empty) error(e.path, 'a lifecycle@1 entry with no hooks, no files and no interactive tail is invalid: drop the entry', 'lifecycle-empty', 'key')
      const seen = new Map<string, number>()
      ;(c.files ?? []).forEach((f: any, i: number) => {
        if (!f.path.startsWith('/')) error([...p, 'files', i, 'path'], `files[${i}].path "${f.path}" must be absolute`, 'lifecycle-path')
        const key = posix.normalize(f.path)
        if (seen.has(key)) error([...p, 'files', i, 'path'], `files[${i}] writes ${key} like files[${seen.get(key)}]`, 'lifecycle-path-duplicate')
        seen.set(key, i)
      })
      return
    }
    case T.AgentContext: {
      if (c.content !== undefined && c.contentFile !== undefined) error([...p, 'contentFile'], 'content and contentFile are mutually exclusive', 'agent-context-exclusive', 'key')
      if (c.directory !== undefined && c.filename === undefined) error([...p, 'directory'], 'directory requires filename in the same entry', 'agent-context-directory', 'key')
      if (c.directory !== undefined && (c.directory !== posix.normalize(c.directory) || (c.directory.length > 1 && c.directory.endsWith('/')))) {
        error([...p, 'directory'], `directory "${c.directory}" must be absolute and canonical`, 'agent-context-directory')
      }
      if (c.filename === '.' || c.filename === '..') error([...p, 'filename'], 'filename must name a file', 'agent-context-filename')
      if (c.contentFile !== undefined && !opts.published) {
        const f = c.contentFile as string
        if (isAbsolute(f) || normalize(f).split(/[\\/]/)[0] === '..') error([...p, 'contentFile'], `contentFile "${f}" must be a path inside the kit's directory`, 'agent-context-file')
        else {
          try {
            if (!(await stat(join(src.dir, f))).isFile()) throw new Error()
          } catch {
            error([...p, 'contentFile'], `contentFile "${f}" does not exist in ${display(src.dir)}`, 'agent-context-file')
          }
        }
      }
      return
    }
    default:
  }
}

/** §11 cross-entry: every credential inject domain is allowed in the matching phase of the network policy. */
function checkInjectDomains(all: Entry[], error: ErrorAt): void {
  const policy = all.find((e) => e.type === T.NetworkPolicy1 || e.type === T.NetworkPolicy2)
  for (const e of all.filter((x) => x.type === T.Credential)) {
    if (JSON.stringify(e.config ?? {}).includes('${{') || (policy && JSON.stringify(policy.config ?? {}).includes('${{'))) continue
    const c = e.config ?? {}
    const phases: string[] = Array.isArray(c.phase) ? c.phase : [c.phase]
    ;(c.apiKey?.inject ?? []).forEach((r: any, i: number) => {
      for (const phase of phases) {
        const allow: unknown[] = policy?.config?.[phase]?.allow ?? []
        if (!allow.some((a) => covers(a, r.domain))) {
          error([...e.path, 'config', 'apiKey', 'inject', i, 'domain'], `inject domain ${r.domain} is not in the ${phase} allow list of the network policy (SPEC-v3 §11)`, 'inject-domain-not-allowed')
        }
      }
    })
  }
}

export function covers(entry: unknown, domain: string): boolean {
  const hosts: string[] = typeof entry === 'string' ? [entry] : ((entry as any)?.hosts ?? [])
  const d = domain.toLowerCase().replace(/:\d+$/, '')
  return hosts.some((h) => {
    const host = h.toLowerCase().replace(/:\d+$/, '')
    if (host === '*' || host === '**') return true
    if (host.startsWith('*.')) return d.endsWith(host.slice(1))
    return host === d
  })
}

function pathString(path: readonly PathSegment[]): string {
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i ? `.${s}` : s)).join('')
}

/** §7.1 dedup keys of instance-shaped types. */
function instanceKeys(e: Entry): string[] {
  const c = e.config ?? {}
  switch (e.type) {
    case T.Credential: {
      const phases = Array.isArray(c.phase) ? c.phase : [c.phase]
      return phases.map((p: unknown) => `${e.type} service ${c.service} in phase ${p}`)
    }
    case T.Volume:
    case T.HostMount:
      return typeof c.path === 'string' ? [`path ${posix.normalize(c.path)}`] : []
    case T.Port:
      return [`${e.type} port ${c.container}/${c.transport ?? 'tcp'}`]
    case T.AgentSkills:
      return typeof c.path === 'string' ? [`${e.type} path ${posix.normalize(c.path)}`] : []
    default:
      return []
  }
}

async function findRecipe(d: KitDescriptorV3, src: V3Source, error: ErrorAt): Promise<V3Recipe | undefined> {
  const {readFile} = await import('node:fs/promises')
  if (src.form === 'comment') return {form: 'comment', path: src.path, text: src.fileBytes.toString('utf8')}
  if (d.build !== undefined) return {form: 'inline', text: d.build}
  if (d.kits) return undefined
  const path = join(src.dir, d.dockerfile ?? `${src.stem}.dockerfile`)
  try {
    if (!(await stat(path)).isFile()) throw new Error('not a file')
  } catch {
    if (d.dockerfile !== undefined) error(['dockerfile'], `dockerfile "${d.dockerfile}" does not exist (a named recipe must; SPEC-v3 §3.1)`, 'dockerfile-missing')
    return undefined
  }
  return {form: 'companion', path, text: await readFile(path, 'utf8')}
}

/** §11 published form: kind is workload or mixin, provides literal and versioned, listed kits pinned. */
function checkPublished(d: KitDescriptorV3, error: ErrorAt): void {
  if (d.kind === 'set') error(['kind'], 'a published descriptor never has kind: set (publishing derives workload or mixin)', 'published-kind')
  ;(d.provides ?? []).forEach((entry, i) => {
    if (entry.includes('${{')) error(['provides', i], `published provides "${entry}" still holds an arg reference`, 'published-provides')
    else if (!entry.includes('@') && !d.version) error(['provides', i], `published provides "${entry}" carries no version and the descriptor no version: fallback (SPEC-v3 §9.2)`, 'published-provides')
  })
  for (const [name, a] of Object.entries(d.args ?? {})) {
    if (!a.buildArg) continue
    if (JSON.stringify({...d, args: undefined}).match(new RegExp(`\\$\\{\\{\\s*kit\\.args\\.${name}\\s*\\}\\}`))) {
      error(['args', name], `build-phase arg "${name}" is still referenced in the published descriptor`, 'published-build-arg', 'key')
    }
  }
  ;(d.kits ?? []).forEach((k, i) => {
    if (!k.digest) error(['kits', i], `published kits[${i}] (${k.ref}) carries no digest`, 'published-kit-digest', 'key')
  })
}
