// Settings: a flat JSON file at configPath() ($KIT_HOME/config.json) of dotted keys to values,
// read and written by `kit config set/get/unset/ls`. Each key is declared once with a parser
// (what `kit config set KEY VALUE` accepts) and a description; other areas declare their own with
// defineSetting(). Unknown keys in the file are kept but reported by `kit config ls`.
//
// An organisation can also ship a settings file (KIT_ORG_CONFIG, default /etc/kit/config.json):
// its values win over the user's for the keys it sets, and `kit config set` refuses to change them.
import {mkdir, readFile} from 'node:fs/promises'
import {dirname} from 'node:path'
import {atomicWrite} from '../registry-client/atomic.js'
import {configPath} from './home.js'

export class ConfigError extends Error {
  readonly code: string
  constructor(code: string, message: string) {
    super(message)
    this.code = code
    this.name = 'ConfigError'
  }
}

export interface SettingSpec<T = unknown> {
  key: string
  description: string
  /** Turns the text of `kit config set KEY VALUE` into the stored value; throws on bad input. */
  parse(text: string): T
  /** Checks a value read from a file (hand-edited); throws on bad input. Defaults to accepting parse's shape. */
  validate?(value: unknown): T
  default?: T
}

const registry = new Map<string, SettingSpec>()

/** Declares a setting (idempotent for the same key). */
export function defineSetting<T>(spec: SettingSpec<T>): SettingSpec<T> {
  registry.set(spec.key, spec as SettingSpec)
  return spec
}

export function settingSpec(key: string): SettingSpec {
  const spec = registry.get(key)
  if (!spec) {
    const known = [...registry.keys()].sort().join(', ')
    throw new ConfigError('UNKNOWN_SETTING', `unknown setting ${JSON.stringify(key)} (known: ${known})`)
  }
  return spec
}

export function knownSettings(): SettingSpec[] {
  return [...registry.values()].sort((a, b) => (a.key < b.key ? -1 : 1))
}

// ---- parsers ---------------------------------------------------------------------------------

/** A list of strings: a JSON array, or comma/whitespace separated words. `[]` or "" clears it. */
export function parseStringList(text: string): string[] {
  const t = text.trim()
  if (t.startsWith('[')) {
    let value: unknown
    try {
      value = JSON.parse(t)
    } catch (err) {
      throw new ConfigError('INVALID_SETTING', `not a JSON list: ${(err as Error).message}`)
    }
    return validateStringList(value)
  }
  return t.split(/[\s,]+/).filter((s) => s !== '')
}

export function validateStringList(value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new ConfigError('INVALID_SETTING', 'expected a list of strings')
  }
  return value as string[]
}

export function parseBoolean(text: string): boolean {
  const t = text.trim().toLowerCase()
  if (['true', '1', 'yes', 'on'].includes(t)) return true
  if (['false', '0', 'no', 'off'].includes(t)) return false
  throw new ConfigError('INVALID_SETTING', `expected true or false, got ${JSON.stringify(text)}`)
}

export function validateBoolean(value: unknown): boolean {
  if (typeof value !== 'boolean') throw new ConfigError('INVALID_SETTING', 'expected true or false')
  return value
}

/** Any JSON value. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new ConfigError('INVALID_SETTING', `not JSON: ${(err as Error).message}`)
  }
}

// ---- the settings of this area ---------------------------------------------------------------

export const ALLOWED_SOURCES = defineSetting<string[]>({
  key: 'kit.allowedSources',
  description:
    'Registry/namespace prefixes kits and images may be pulled from (e.g. registry.example.com/team), matched on path segments; empty allows any.',
  parse: parseStringList,
  validate: validateStringList,
  default: [],
})

// ---- the signature policy (issue 6; enforced by runtime/trust on pull and launch) -----------

export interface TrustedSigner {
  name?: string
  /** Path of a PEM public key. */
  key?: string
  /** The PEM itself. */
  keyData?: string
  /** RFC 3339: the key is not trusted after this time (a rotated or retired key). */
  expires?: string
}

/** kit.trustedSigners: a list of {"key": PATH} / {"keyData": PEM} (or bare PATH strings), "name" and "expires" optional. */
export function validateSigners(value: unknown): TrustedSigner[] {
  if (!Array.isArray(value)) throw new ConfigError('INVALID_SETTING', 'expected a JSON list of {"key": "/path/to/key.pub"}')
  return value.map((v, i) => {
    if (typeof v === 'string' && v.trim() !== '') return {key: v}
    const o = v as TrustedSigner | null
    if (!o || typeof o !== 'object' || Array.isArray(o)) throw new ConfigError('INVALID_SETTING', `entry ${i}: expected {"key": PATH} or {"keyData": PEM}`)
    const hasKey = typeof o.key === 'string' && o.key !== ''
    const hasData = typeof o.keyData === 'string' && o.keyData !== ''
    if (hasKey === hasData) throw new ConfigError('INVALID_SETTING', `entry ${i}: give exactly one of "key" (a file) or "keyData" (a PEM)`)
    if (o.name !== undefined && typeof o.name !== 'string') throw new ConfigError('INVALID_SETTING', `entry ${i}: "name" must be a string`)
    if (o.expires !== undefined && (typeof o.expires !== 'string' || Number.isNaN(Date.parse(o.expires)))) {
      throw new ConfigError('INVALID_SETTING', `entry ${i}: "expires" must be an RFC 3339 time`)
    }
    return {...(o.name ? {name: o.name} : {}), ...(hasKey ? {key: o.key} : {keyData: o.keyData}), ...(o.expires ? {expires: o.expires} : {})}
  })
}

export const REQUIRE_SIGNATURE = defineSetting<boolean>({
  key: 'kit.requireSignature',
  description: 'Refuse to pull or launch a kit without a valid signature by one of kit.trustedSigners.',
  parse: parseBoolean,
  validate: validateBoolean,
  default: false,
})

export const TRUSTED_SIGNERS = defineSetting<TrustedSigner[]>({
  key: 'kit.trustedSigners',
  description: 'Public keys whose signatures kit trusts: a JSON list of {"key": "/path/key.pub"} or {"keyData": "<PEM>"} (optional "name", "expires").',
  parse: (text) => validateSigners(parseJson(text)),
  validate: validateSigners,
  default: [],
})

// ---- files -----------------------------------------------------------------------------------

export function orgConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.KIT_ORG_CONFIG || '/etc/kit/config.json'
}

async function readSettingsFile(path: string): Promise<Record<string, unknown>> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return {}
    throw err
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new ConfigError('INVALID_CONFIG', `${path}: not valid JSON: ${(err as Error).message}`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError('INVALID_CONFIG', `${path}: expected a JSON object of settings`)
  }
  return value as Record<string, unknown>
}

function checked(path: string, key: string, value: unknown): unknown {
  const spec = registry.get(key)
  if (!spec?.validate) return value
  try {
    return spec.validate(value)
  } catch (err) {
    throw new ConfigError('INVALID_CONFIG', `${path}: ${key}: ${(err as Error).message}`)
  }
}

export interface SettingValue {
  key: string
  value: unknown
  /** Where the value comes from. */
  source: 'default' | 'user' | 'org'
  description?: string
}

/** The effective value of one setting: org file, else user file, else the default. */
export async function getSetting<T = unknown>(key: string, env: NodeJS.ProcessEnv = process.env): Promise<T | undefined> {
  return (await getSettingValue(key, env)).value as T | undefined
}

export async function getSettingValue(key: string, env: NodeJS.ProcessEnv = process.env): Promise<SettingValue> {
  const spec = settingSpec(key)
  const org = await readSettingsFile(orgConfigPath(env))
  if (key in org) return {key, value: checked(orgConfigPath(env), key, org[key]), source: 'org', description: spec.description}
  const user = await readSettingsFile(configPath(env))
  if (key in user) return {key, value: checked(configPath(env), key, user[key]), source: 'user', description: spec.description}
  return {key, value: spec.default, source: 'default', description: spec.description}
}

/** Every declared setting with its effective value, plus unknown keys found in the user file. */
export async function listSettings(env: NodeJS.ProcessEnv = process.env): Promise<SettingValue[]> {
  const out: SettingValue[] = []
  for (const spec of knownSettings()) out.push(await getSettingValue(spec.key, env))
  const user = await readSettingsFile(configPath(env))
  for (const key of Object.keys(user).sort()) {
    if (!registry.has(key)) out.push({key, value: user[key], source: 'user', description: '(unknown setting)'})
  }
  return out
}

/** Parses and stores a setting in the user file; returns the stored value. */
export async function setSetting(key: string, text: string, env: NodeJS.ProcessEnv = process.env): Promise<unknown> {
  const spec = settingSpec(key)
  const org = await readSettingsFile(orgConfigPath(env))
  if (key in org) throw new ConfigError('SETTING_LOCKED', `${key} is set by the organisation in ${orgConfigPath(env)} and cannot be changed`)
  let value: unknown
  try {
    value = spec.parse(text)
  } catch (err) {
    throw new ConfigError('INVALID_SETTING', `${key}: ${(err as Error).message}`)
  }
  await updateUserFile(env, (settings) => ({...settings, [key]: value}))
  return value
}

/** Removes a setting from the user file; true when it was there. */
export async function unsetSetting(key: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  settingSpec(key)
  let removed = false
  await updateUserFile(env, (settings) => {
    removed = key in settings
    const {[key]: _gone, ...rest} = settings
    return rest
  })
  return removed
}

async function updateUserFile(env: NodeJS.ProcessEnv, fn: (s: Record<string, unknown>) => Record<string, unknown>): Promise<void> {
  const path = configPath(env)
  const next = fn(await readSettingsFile(path))
  const sorted = Object.fromEntries(Object.keys(next).sort().map((k) => [k, next[k]]))
  await mkdir(dirname(path), {recursive: true})
  await atomicWrite(path, JSON.stringify(sorted, null, 2) + '\n')
}

/**
 * The settings every pull must honour, ready to spread into registry-client's pull()/resolveRemote()
 * options: `pull(ref, store, {...(await pullPolicy()), ...})`.
 */
export async function pullPolicy(env: NodeJS.ProcessEnv = process.env): Promise<{allowedSources: string[]; allowedSourcesSetting: string}> {
  return {allowedSources: (await getSetting<string[]>(ALLOWED_SOURCES.key, env)) ?? [], allowedSourcesSetting: ALLOWED_SOURCES.key}
}
