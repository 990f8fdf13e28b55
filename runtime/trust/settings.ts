// The signature policy settings: kit.requireSignature (every pull and launch needs a valid signature
// from a trusted signer) and kit.trustedSigners (the public keys that count), e.g.
//   kit config set kit.requireSignature true
//   kit config set kit.trustedSigners '[{"key": "/etc/kit/ci-signing.pub"}]'
// An entry is {"key": PATH} (a PEM file), {"keyData": PEM} or a bare PATH string; "name" and
// "expires" (RFC 3339; the key is refused after it) are optional.
import {ConfigError, defineSetting, getSetting, parseBoolean, parseJson, validateBoolean} from '../config.js'

export interface TrustedSigner {
  name?: string
  /** Path of a PEM public key. */
  key?: string
  /** The PEM itself. */
  keyData?: string
  /** RFC 3339: the key is not trusted after this time (a rotated or retired key). */
  expires?: string
}

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
  description: 'Public keys whose signatures kit trusts: a JSON list of {"key": "/path/key.pub"} or {"keyData": "<PEM>"}.',
  parse: (text) => validateSigners(parseJson(text)),
  validate: validateSigners,
  default: [],
})

export interface SignaturePolicy {
  requireSignature: boolean
  trustedSigners: TrustedSigner[]
}

export async function loadSignaturePolicy(env: NodeJS.ProcessEnv = process.env): Promise<SignaturePolicy> {
  return {
    requireSignature: (await getSetting<boolean>(REQUIRE_SIGNATURE.key, env)) === true,
    trustedSigners: (await getSetting<TrustedSigner[]>(TRUSTED_SIGNERS.key, env)) ?? [],
  }
}
