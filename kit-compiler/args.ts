// Kit arguments: `${{ kit.args.NAME }}` references in spec.yaml and files/ payloads, substituted
// textually at launch. `$${{ ... }}` is an escape: it stays literal as `${{ ... }}`.
import type {KitArg} from '../schemas/generated/kit-v2.js'

export const ARG_NAME_RE = /^[A-Za-z_][A-Za-z0-9_-]*$/
// `$$` before the opener escapes it; otherwise a reference. Whitespace inside the braces is free.
const REFERENCE_RE = /(\$?)\$\{\{\s*kit\.args\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}/g
// Anything that opens like a kit expression but is not a well-formed reference.
const OPENER_RE = /(\$?)\$\{\{([^}]*)\}\}/g

export interface ArgReference {
  name: string
  /** Offset in the text. */
  index: number
  length: number
}

export interface MalformedReference {
  text: string
  index: number
}

/** References in `text` (escaped openers are not references). */
export function findArgReferences(text: string): ArgReference[] {
  const refs: ArgReference[] = []
  for (const m of text.matchAll(REFERENCE_RE)) {
    if (m[1] === '$') continue
    refs.push({name: m[2], index: m.index!, length: m[0].length})
  }
  return refs
}

/** `${{ ... }}` expressions that are not `kit.args.NAME` (typos such as `${{ kit.arg.x }}`). */
export function findMalformedReferences(text: string): MalformedReference[] {
  const out: MalformedReference[] = []
  for (const m of text.matchAll(OPENER_RE)) {
    if (m[1] === '$') continue
    if (/^\s*kit\.args\.[A-Za-z_][A-Za-z0-9_-]*\s*$/.test(m[2])) continue
    out.push({text: m[0], index: m.index!})
  }
  return out
}

/** Replaces every reference with its value and unescapes `$${{` to `${{`. */
export function substituteArgs(text: string, values: Readonly<Record<string, string>>): string {
  return text.replace(REFERENCE_RE, (whole, escape: string, name: string) => {
    if (escape === '$') return whole.slice(1)
    const value = values[name]
    if (value === undefined) throw new Error(`no value for argument "${name}"`)
    return value
  })
}

/** True when the text holds a reference or an escaped opener (so substitution would change it). */
export function hasArgSyntax(text: string): boolean {
  return text.includes('${{')
}

export class ArgError extends Error {
  readonly code = 'E_KIT_ARG'
  constructor(message: string) {
    super(message)
    this.name = 'ArgError'
  }
}

/** Problems with a declaration itself (for validation). */
export function checkArgDeclaration(name: string, arg: KitArg): string[] {
  const problems: string[] = []
  const hasDefault = arg.default !== undefined
  if (hasDefault === (arg.required === true)) {
    problems.push(`argument "${name}" must have exactly one of default or required: true`)
  }
  if (arg.required === false) problems.push(`argument "${name}": write required: true, or give a default instead of required: false`)
  if (arg.enum && arg.pattern !== undefined) problems.push(`argument "${name}" has both enum and pattern; use one`)
  if (arg.pattern !== undefined) {
    try {
      new RegExp(`^(?:${arg.pattern})$`, 'u')
    } catch (error) {
      problems.push(`argument "${name}": pattern is not a valid regular expression (${(error as Error).message})`)
    }
  }
  if (hasDefault && problems.length === 0) {
    const bad = checkArgValue(name, arg, arg.default!)
    if (bad) problems.push(`default of ${bad}`)
  }
  return problems
}

/** Why `value` is not acceptable for `arg`, or undefined. */
export function checkArgValue(name: string, arg: KitArg, value: string): string | undefined {
  if (arg.enum && !arg.enum.includes(value)) {
    return `argument "${name}": ${JSON.stringify(value)} is not one of ${arg.enum.map((v) => JSON.stringify(v)).join(', ')}`
  }
  if (arg.pattern !== undefined && !new RegExp(`^(?:${arg.pattern})$`, 'u').test(value)) {
    return `argument "${name}": ${JSON.stringify(value)} does not match the pattern ${arg.pattern}`
  }
  return undefined
}

/**
 * The values a launch uses: the supplied ones (scoped `kit.name` entries win over plain ones),
 * else the defaults; throws ArgError for a required argument without a value or a value its enum or
 * pattern refuses. Supplied values this kit does not declare are ignored here (they may be another
 * kit's: one --kit-arg list serves a whole composition); loadKit refuses a scoped one for this kit.
 */
export function resolveArgValues(
  kitName: string,
  declared: Readonly<Record<string, KitArg>>,
  supplied: Readonly<Record<string, string>>,
): Record<string, string> {
  const values: Record<string, string> = {}
  for (const [name, arg] of Object.entries(declared)) {
    const scoped = supplied[`${kitName}.${name}`]
    const value = scoped ?? supplied[name] ?? arg.default
    if (value === undefined) {
      throw new ArgError(`kit ${kitName}: argument "${name}" is required; pass --kit-arg ${name}=VALUE (or ${kitName}.${name}=VALUE)`)
    }
    const bad = checkArgValue(name, arg, value)
    if (bad) throw new ArgError(`kit ${kitName}: ${bad}`)
    values[name] = value
  }
  return values
}

/** Parses `--kit-arg` values (`name=value` or `kit.name=value`). */
export function parseKitArgFlags(flags: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const flag of flags) {
    const eq = flag.indexOf('=')
    if (eq <= 0) throw new ArgError(`--kit-arg ${JSON.stringify(flag)}: expected NAME=VALUE or KIT.NAME=VALUE`)
    out[flag.slice(0, eq)] = flag.slice(eq + 1)
  }
  return out
}
