// JSON Schema validation of a parsed spec (schemas/ is the source of truth), with ajv errors turned
// into one-line diagnostics located at the offending key or value.
import {Ajv, type ErrorObject, type ValidateFunction} from 'ajv'
import v1Schema from '../schemas/kit-v1.schema.json' with {type: 'json'}
import v2Schema from '../schemas/kit-v2.schema.json' with {type: 'json'}
import type {Diagnostic} from './diagnostics.js'
import {isScalar} from 'yaml'
import {nodeAt, positionOf, type PathSegment, type SpecSource} from './source.js'

let ajv: Ajv | undefined
const compiled: Partial<Record<'1' | '2', ValidateFunction>> = {}

/** The validator of one schema version, compiled on first use (compiling costs ~0.2 s each). */
function validatorFor(version: '1' | '2'): ValidateFunction {
  let validate = compiled[version]
  if (!validate) {
    ajv ??= new Ajv({allErrors: true, strict: false, allowUnionTypes: true})
    validate = ajv.compile(version === '1' ? v1Schema : v2Schema)
    compiled[version] = validate
  }
  return validate
}

export const SCHEMA_VERSIONS = ['1', '2'] as const
export type SchemaVersion = (typeof SCHEMA_VERSIONS)[number]

/** Validates `value` against schema v1 or v2; `skip` says which paths hold unresolved kit args. */
export function validateSchema(
  version: SchemaVersion,
  value: unknown,
  source: SpecSource,
  skip: (path: readonly PathSegment[]) => boolean = () => false,
): Diagnostic[] {
  const validate = validatorFor(version)
  if (validate(value)) return []
  const errors = collapse(validate.errors ?? [])
  const out: Diagnostic[] = []
  for (const err of errors) {
    const path = pointerToPath(err.instancePath)
    // A property-name error points at the offending key itself.
    if (err.propertyName !== undefined && err.keyword !== 'propertyNames') path.push(err.propertyName)
    if ((err.keyword === 'pattern' || err.keyword === 'enum') && skip(path)) continue
    const d = toDiagnostic(err, path, source, value)
    if (d && !out.some((o) => o.line === d.line && o.column === d.column && o.message === d.message)) out.push(d)
  }
  return out
}

const YAML11_BOOLEANS: Record<string, boolean> = {
  y: true, yes: true, on: true, true: true, n: false, no: false, off: false, false: false,
}

/**
 * Scalars typed the way sbx's YAML decoder (Go yaml.v3) types them: an unquoted scalar in a string
 * field is that string as written (`version: 1.20` is "1.20", `mode: 0644` is "0644", `IS_SANDBOX: 1`
 * is "1"), and a boolean field takes yes/no/on/off. Mutates `value`; returns how many it changed.
 */
export function coerceScalars(version: SchemaVersion, value: unknown, source: SpecSource): number {
  let changed = 0
  for (let round = 0; round < 3; round++) {
    const validate = validatorFor(version)
    if (validate(value)) break
    let fixed = 0
    for (const err of validate.errors ?? []) {
      if (err.keyword !== 'type') continue
      const path = pointerToPath(err.instancePath)
      if (!path.length) continue
      const expected = String((err.params as {type: string}).type).split(',')
      const parent = valueAt(value, path.slice(0, -1)) as Record<string | number, unknown> | undefined
      const last = path[path.length - 1]
      if (!parent || typeof parent !== 'object') continue
      const current = parent[last]
      const {node} = nodeAt(source, path)
      if (expected.includes('string') && (typeof current === 'number' || typeof current === 'boolean') && isScalar(node)) {
        parent[last] = typeof node.source === 'string' ? node.source : String(current)
        fixed++
      } else if (expected.includes('boolean') && typeof current === 'string' && current.toLowerCase() in YAML11_BOOLEANS) {
        parent[last] = YAML11_BOOLEANS[current.toLowerCase()]
        fixed++
      }
    }
    if (!fixed) break
    changed += fixed
  }
  return changed
}

/** Drops errors that only restate a deeper one (anyOf branches, `if` wrappers). */
function collapse(errors: ErrorObject[]): ErrorObject[] {
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath))
  return errors.filter((e) => {
    if (e.keyword === 'anyOf') return true
    // Branch errors of a failed anyOf are summarised by the anyOf error itself.
    return !(anyOfPaths.has(e.instancePath) && e.schemaPath.includes('/anyOf/'))
  })
}

export function pointerToPath(pointer: string): PathSegment[] {
  if (!pointer) return []
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s))
}

export function pathToString(path: readonly PathSegment[]): string {
  let out = ''
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${seg}` : seg
  return out || '(top level)'
}

function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let cur: any = root
  for (const seg of path) cur = cur?.[seg]
  return cur
}

function toDiagnostic(err: ErrorObject, path: PathSegment[], source: SpecSource, root: unknown): Diagnostic | undefined {
  const where = pathToString(path)
  const at = (p: PathSegment[], which: 'key' | 'value' = 'value') => positionOf(source, p, which)
  const make = (message: string, p: PathSegment[] = path, which: 'key' | 'value' = 'value', code = 'schema'): Diagnostic => ({
    severity: 'error', file: source.file, ...at(p, which), message, code,
  })
  const params = err.params as Record<string, any>
  switch (err.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty)
      const inWhat = path.length ? ` in ${where}` : ''
      return make(`unknown key "${key}"${inWhat}${hintFor(key, path)}`, [...path, key], 'key', 'unknown-key')
    }
    case 'required':
      return make(`missing required key "${params.missingProperty}"${path.length ? ` in ${where}` : ''}`, path, 'key', 'missing-key')
    case 'type':
      return make(`${where} must be ${article(String(params.type))}`, path, 'value', 'type')
    case 'const':
      if (path.join('.') === 'schemaVersion') return make(`schemaVersion must be "1" or "2" (quoted)`, path, 'value', 'schema-version')
      return make(`${where} must be ${JSON.stringify(params.allowedValue)}`)
    case 'enum':
      return make(`${where} must be one of: ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`, path, 'value', 'enum')
    case 'pattern': {
      if (err.propertyName !== undefined) return make(patternMessage(path, where, String(err.propertyName), String(params.pattern)), path, 'key', 'pattern')
      const value = valueAt(root, path)
      return make(patternMessage(path, where, String(value), String(params.pattern)), path, 'value', 'pattern')
    }
    case 'propertyNames':
      return undefined // reported by the nested `pattern` error on the name, below
    case 'if':
      return undefined // the failing then/else branch reports the error itself
    case 'minItems':
      return make(`${where} must have at least ${params.limit} item${params.limit === 1 ? '' : 's'}`)
    case 'uniqueItems':
      return make(`${where} has duplicate items (${params.j} and ${params.i})`, [...path, params.i])
    case 'minLength':
      return make(`${where} must not be empty`)
    case 'minimum':
    case 'maximum':
      return make(`${where} must be ${err.keyword === 'minimum' ? '>=' : '<='} ${params.limit}`)
    case 'anyOf':
      return make(`${where} has the wrong shape: ${anyOfHint(path)}`)
    default:
      return make(`${where} ${err.message ?? 'is invalid'}`)
  }
}

function article(type: string): string {
  const words: Record<string, string> = {string: 'a string', array: 'a list', object: 'a mapping', boolean: 'true or false', integer: 'an integer', number: 'a number'}
  return type.split(',').map((t) => words[t] ?? t).join(' or ')
}

function patternMessage(path: PathSegment[], where: string, value: string, pattern: string): string {
  const last = path[path.length - 1]
  // A property-name error has the offending name as its instance path's last segment.
  if (path.length === 1 && last === 'name')
    return `name "${value}" is invalid: use 1-64 lower-case letters, digits and hyphens, starting and ending with a letter or digit`
  if (path[0] === 'credentials' && last === 'service')
    return `${where} "${value}" is invalid: use lower-case letters, digits and hyphens`
  if (path[0] === 'environment' && path[1] === 'variables')
    return `environment variable name "${last}" is invalid: use letters, digits and _, not starting with a digit`
  if (path[0] === 'args' && path.length === 2) return `argument name "${last}" is invalid: use letters, digits, _ and -, not starting with a digit`
  if (last === 'mode') return `${where} "${value}" must be an octal file mode such as "0644"`
  return `${where} "${value}" does not match ${pattern}`
}

function anyOfHint(path: PathSegment[]): string {
  if (path.join('.') === 'sandbox.command') return 'use a list of strings, or {default: [...], interactive: [...]}'
  return 'it matches none of the allowed forms'
}

/** Suggestions for keys that belong to the other schema version or are common typos. */
function hintFor(key: string, path: PathSegment[]): string {
  const top = path.length === 0
  const v1Only: Record<string, string> = {
    network: 'permissions.network', commands: 'setup', memory: 'agentInstructions.content', agentContext: 'agentInstructions.content',
    agent: 'sandbox', caps: 'permissions', template: 'sandbox.image',
  }
  const v2Only: Record<string, string> = {
    permissions: 'network (allowedDomains/deniedDomains)', setup: 'commands', agentInstructions: 'memory', args: 'schema v2',
  }
  if (top && v1Only[key]) return ` (a schema v1 field; in schema v2 use ${v1Only[key]}, or run kit migrate)`
  if (top && v2Only[key]) return ` (a schema v2 field; set schemaVersion: "2" to use it)`
  return ''
}
