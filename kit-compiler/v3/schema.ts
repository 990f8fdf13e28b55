// JSON Schema checks of a v3 descriptor (schemas/kit-v3.schema.json) and of the configs of the
// well-known capability types (schemas/kit-v3-cap-*.schema.json), as located diagnostics.
import {Ajv, type ErrorObject, type ValidateFunction} from 'ajv'
import descriptorSchema from '../../schemas/kit-v3.schema.json' with {type: 'json'}
import np1 from '../../schemas/kit-v3-cap-network-policy-1.schema.json' with {type: 'json'}
import np2 from '../../schemas/kit-v3-cap-network-policy-2.schema.json' with {type: 'json'}
import credential from '../../schemas/kit-v3-cap-credential-1.schema.json' with {type: 'json'}
import lifecycle from '../../schemas/kit-v3-cap-lifecycle-1.schema.json' with {type: 'json'}
import agentContext from '../../schemas/kit-v3-cap-agent-context-1.schema.json' with {type: 'json'}
import resources from '../../schemas/kit-v3-cap-resources-1.schema.json' with {type: 'json'}
import port from '../../schemas/kit-v3-cap-port-1.schema.json' with {type: 'json'}
import volume from '../../schemas/kit-v3-cap-volume-1.schema.json' with {type: 'json'}
import type {Diagnostic} from '../diagnostics.js'
import {pathToString, pointerToPath} from '../schema.js'
import type {PathSegment} from '../source.js'
import {T} from './descriptor.js'

let ajv: Ajv | undefined
const cache = new Map<string, ValidateFunction>()

const CONFIG_SCHEMAS: Record<string, object> = {
  [T.NetworkPolicy1]: np1, [T.NetworkPolicy2]: np2, [T.Credential]: credential, [T.Lifecycle]: lifecycle,
  [T.AgentContext]: agentContext, [T.Resources]: resources, [T.Port]: port, [T.Volume]: volume,
}

function compiled(key: string, schema: () => object): ValidateFunction {
  let v = cache.get(key)
  if (!v) {
    ajv ??= new Ajv({allErrors: true, strict: false, allowUnionTypes: true})
    v = ajv.compile(schema())
    cache.set(key, v)
  }
  return v
}

/** The descriptor's own schema with capability items left to `capabilityValidator` (clearer errors than an anyOf). */
function descriptorValidator(): ValidateFunction {
  return compiled('descriptor', () => {
    const s = structuredClone(descriptorSchema) as any
    s.$id = 'kit-v3-top'
    s.properties.capabilities = {type: 'array'}
    return s
  })
}

function definitionValidator(name: 'Capability' | 'CapabilityGroupItem'): ValidateFunction {
  return compiled(name, () => ({$id: `kit-v3-${name}`, definitions: structuredClone(descriptorSchema.definitions), $ref: `#/definitions/${name}`}))
}

export function hasConfigSchema(type: string): boolean {
  return type in CONFIG_SCHEMAS
}

export type Locate = (path: readonly PathSegment[], which?: 'key' | 'value') => {line: number; column: number}

/** Schema errors of `value` (found at `base` in the document) as diagnostics. */
function run(validate: ValidateFunction, value: unknown, base: PathSegment[], file: string, locate: Locate): Diagnostic[] {
  if (validate(value)) return []
  const errors = (validate.errors ?? []).filter((e) => !(e.keyword === 'if'))
  const anyOf = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath))
  const out: Diagnostic[] = []
  for (const e of errors) {
    if (e.keyword !== 'anyOf' && anyOf.has(e.instancePath) && e.schemaPath.includes('/anyOf/')) continue
    if (e.keyword === 'propertyNames') continue
    const d = toDiagnostic(e, [...base, ...pointerToPath(e.instancePath)], file, locate, value, base)
    if (d && !out.some((o) => o.line === d.line && o.column === d.column && o.message === d.message)) out.push(d)
  }
  return out
}

export function checkDescriptorSchema(value: unknown, file: string, locate: Locate): Diagnostic[] {
  const out = run(descriptorValidator(), value, [], file, locate)
  const caps = (value as any)?.capabilities
  if (Array.isArray(caps)) {
    caps.forEach((item, i) => {
      const isGroup = item && typeof item === 'object' && 'group' in item
      out.push(...run(definitionValidator(isGroup ? 'CapabilityGroupItem' : 'Capability'), item, ['capabilities', i], file, locate))
    })
  }
  return out
}

/** Strict decoding of a well-known type's config (§7.2), found at `base`. */
export function checkConfigSchema(type: string, config: unknown, base: PathSegment[], file: string, locate: Locate): Diagnostic[] {
  const schema = CONFIG_SCHEMAS[type]
  if (!schema) return []
  return run(compiled(type, () => schema), config ?? {}, base, file, locate)
}

function toDiagnostic(err: ErrorObject, path: PathSegment[], file: string, locate: Locate, root: unknown, base: PathSegment[]): Diagnostic | undefined {
  const params = err.params as Record<string, any>
  const where = pathToString(path)
  const make = (message: string, p: PathSegment[] = path, which: 'key' | 'value' = 'value', code = 'schema'): Diagnostic => ({
    severity: 'error', file, ...locate(p, which), message, code,
  })
  const valueAt = (p: PathSegment[]) => p.slice(base.length).reduce<any>((v, s) => v?.[s], root)
  switch (err.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty)
      return make(`unknown key "${key}"${path.length ? ` in ${where}` : ''}${hint(key, path)}`, [...path, key], 'key', 'unknown-key')
    }
    case 'required':
      return make(`missing required key "${params.missingProperty}"${path.length ? ` in ${where}` : ''}`, path, 'key', 'missing-key')
    case 'type': {
      const words: Record<string, string> = {string: 'a string', array: 'a list', object: 'a mapping', boolean: 'true or false', integer: 'an integer', number: 'a number', null: 'empty'}
      return make(`${where} must be ${String(params.type).split(',').map((t) => words[t] ?? t).join(' or ')}`, path, 'value', 'type')
    }
    case 'const':
      if (path.join('.') === 'schemaVersion') return make('schemaVersion must be "3" (quoted)', path, 'value', 'schema-version')
      return make(`${where} must be ${JSON.stringify(params.allowedValue)}`)
    case 'enum':
      if (path.join('.') === 'kind' && valueAt(path) === 'sandbox') {
        return make('kind "sandbox" is the pre-rename spelling: write kind: workload (SPEC-v3 §4)', path, 'value', 'enum')
      }
      return make(`${where} must be one of: ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`, path, 'value', 'enum')
    case 'pattern': {
      if (err.propertyName !== undefined) {
        const p = [...path, err.propertyName]
        return make(`${pathToString(p)}: name "${err.propertyName}" does not match ${params.pattern}`, p, 'key', 'pattern')
      }
      return make(`${where} "${String(valueAt(path))}" does not match ${params.pattern}`, path, 'value', 'pattern')
    }
    case 'minItems':
      return make(`${where} must have at least ${params.limit} item${params.limit === 1 ? '' : 's'}`)
    case 'minProperties':
      return make(`${where} must not be empty`)
    case 'uniqueItems':
      return make(`${where} has duplicate items (${params.j} and ${params.i})`, [...path, params.i])
    case 'minLength':
      return make(`${where} must not be empty`)
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
      return make(`${where} must be ${err.keyword === 'minimum' ? '>=' : err.keyword === 'maximum' ? '<=' : '>'} ${params.limit}`)
    case 'anyOf':
      return make(`${where} has the wrong shape: it matches none of the allowed forms`)
    default:
      return make(`${where} ${err.message ?? 'is invalid'}`)
  }
}

function hint(key: string, path: PathSegment[]): string {
  if (path.length) return ''
  const v2: Record<string, string> = {
    name: 'a v3 descriptor has no name: identity is the reference it is consumed by (SPEC-v3 §1)',
    network: 'use a com.docker.sandbox/network-policy@1 capability', credentials: 'use com.docker.sandbox/credential@1 capabilities',
    environment: 'use args with env:, or the image config', sandbox: 'the image config carries the runtime contract (SPEC-v3 §8)',
    commands: 'use com.docker.sandbox/lifecycle@1', setup: 'use com.docker.sandbox/lifecycle@1',
    agentInstructions: 'use com.docker.sandbox/agent-context@1', memory: 'use com.docker.sandbox/agent-context@1',
    sourceURL: 'write sourceUrl', iconURL: 'write iconUrl',
  }
  return v2[key] ? ` (${v2[key]})` : ''
}
