// Sigstore bundles (v0.3, application/vnd.dev.sigstore.bundle.v0.3+json) with key-based material:
// no Fulcio certificate, no Rekor entry, no timestamp authority: the public key is named by a hint
// and supplied by the verifier. Building, (de)serialising and structural checks use @sigstore/bundle;
// the signature check uses @sigstore/verify with a trust root that holds nothing but the caller's
// keys (and thresholds of zero for logs and timestamps, so it works offline).
//
// Two content forms are read: a DSSE envelope (what kit writes: an in-toto statement, signed over
// the DSSE pre-authentication encoding) and a message signature over the subject manifest's bytes
// (its message digest must then be the manifest digest).
import {createHash, type KeyObject, sign} from 'node:crypto'
import {assertBundleLatest, type Bundle, bundleFromJSON, bundleToJSON, BUNDLE_V03_MEDIA_TYPE, toDSSEBundle} from '@sigstore/bundle'
import {dsse} from '@sigstore/core'
import {toSignedEntity, toTrustMaterial, Verifier} from '@sigstore/verify'
import {BundleError} from './errors.js'
import {keyHint, keyId} from './keys.js'
import {IN_TOTO_PAYLOAD_TYPE, type InTotoStatement, parseStatement} from './statement.js'

export const BUNDLE_MEDIA_TYPE = BUNDLE_V03_MEDIA_TYPE
/** A bundle larger than this is refused before it is read (kit's are ~1.5 KiB, provenance a few KiB). */
export const MAX_BUNDLE_BYTES = 1024 * 1024

export type BundleContent = 'dsse-envelope' | 'message-signature'

/** Signs a statement as DSSE and returns the bundle's JSON bytes. */
export function signStatement(statement: InTotoStatement, privateKey: KeyObject): Buffer {
  const payload = Buffer.from(JSON.stringify(statement), 'utf8')
  const signature = sign('sha256', dsse.preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload), privateKey)
  const bundle = toDSSEBundle({artifact: payload, artifactType: IN_TOTO_PAYLOAD_TYPE, signature, keyHint: keyHint(privateKey)})
  return Buffer.from(JSON.stringify(bundleToJSON(bundle)), 'utf8')
}

/** Parses bundle bytes, refusing oversized, non-JSON and non-v0.3 or malformed bundles. */
export function parseBundle(bytes: Uint8Array, where: string): Bundle {
  if (bytes.byteLength > MAX_BUNDLE_BYTES) throw new BundleError(where, `the bundle is ${bytes.byteLength} bytes (limit ${MAX_BUNDLE_BYTES})`)
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch {
    throw new BundleError(where, 'the bundle is not JSON')
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new BundleError(where, 'the bundle is not a JSON object')
  const mediaType = (json as {mediaType?: unknown}).mediaType
  if (mediaType !== BUNDLE_MEDIA_TYPE) throw new BundleError(where, `the bundle's mediaType is ${JSON.stringify(mediaType ?? null)}, not ${BUNDLE_MEDIA_TYPE}`)
  let bundle: Bundle
  try {
    const proto = bundleFromJSON(json)
    assertBundleLatest(proto)
    bundle = proto
  } catch (err) {
    throw new BundleError(where, `malformed bundle (${oneLine((err as Error).message)})`)
  }
  if (bundle.verificationMaterial.content.$case !== 'publicKey') {
    throw new BundleError(where, `the bundle carries a ${bundle.verificationMaterial.content.$case}; kit verifies key-based signatures only`)
  }
  if (bundle.content.$case === 'dsseEnvelope' && bundle.content.dsseEnvelope.signatures.length !== 1) {
    throw new BundleError(where, `the DSSE envelope has ${bundle.content.dsseEnvelope.signatures.length} signatures; exactly one is expected`)
  }
  return bundle
}

export function bundleContent(bundle: Bundle): BundleContent {
  return bundle.content.$case === 'dsseEnvelope' ? 'dsse-envelope' : 'message-signature'
}

/** A key a verifier trusts, with a name for messages (a file path, a setting entry). */
export interface TrustedKey {
  name: string
  key: KeyObject
}

export interface BundleVerification {
  /** The trusted key whose signature verified. */
  signer: TrustedKey
  keyId: string
  content: BundleContent
  /** The DSSE statement (undefined for a message signature). */
  statement?: InTotoStatement
  /** For a message signature: the digest it signs (`sha256:<hex>`). */
  messageDigest?: string
}

const EMPTY_TRUSTED_ROOT = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  certificateAuthorities: [],
  tlogs: [],
  ctlogs: [],
  timestampAuthorities: [],
}

/**
 * Verifies a bundle's signature with each trusted key in turn (the hint picks the order, not the
 * outcome: a bundle written by another tool may carry any hint). `artifact` is the signed bytes of
 * a message signature (the subject manifest). Returns undefined when no key verifies it.
 */
export function verifyBundle(bundle: Bundle, keys: readonly TrustedKey[], where: string, artifact?: Buffer): BundleVerification | undefined {
  if (bundle.content.$case === 'messageSignature') {
    if (!artifact) throw new BundleError(where, 'a message-signature bundle needs the signed bytes')
    const md = bundle.content.messageSignature.messageDigest
    const actual = createHash('sha256').update(artifact).digest()
    if (!md || !Buffer.from(md.digest).equals(actual)) throw new BundleError(where, 'the message digest in the bundle is not the digest of the signed manifest')
  }
  let statement: InTotoStatement | undefined
  if (bundle.content.$case === 'dsseEnvelope') {
    const env = bundle.content.dsseEnvelope
    if (env.payloadType !== IN_TOTO_PAYLOAD_TYPE) throw new BundleError(where, `the DSSE payloadType is ${JSON.stringify(env.payloadType)}, not ${IN_TOTO_PAYLOAD_TYPE}`)
    statement = parseStatement(Buffer.from(env.payload), where)
  }
  const hint = bundle.verificationMaterial.content.$case === 'publicKey' ? bundle.verificationMaterial.content.publicKey.hint : ''
  const named = (k: TrustedKey) => Number(keyHint(k.key) === hint || keyId(k.key) === hint)
  const ordered = [...keys].sort((a, b) => named(b) - named(a))
  const entity = toSignedEntity(bundle, artifact)
  for (const trusted of ordered) {
    const material = toTrustMaterial(EMPTY_TRUSTED_ROOT as never, () => ({publicKey: trusted.key, validFor: () => true}))
    const verifier = new Verifier(material, {tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0})
    try {
      verifier.verify(entity)
    } catch {
      continue
    }
    const out: BundleVerification = {signer: trusted, keyId: keyId(trusted.key), content: bundleContent(bundle)}
    if (statement) out.statement = statement
    if (artifact && bundle.content.$case === 'messageSignature') out.messageDigest = 'sha256:' + createHash('sha256').update(artifact).digest('hex')
    return out
  }
  return undefined
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, '; ')
}
