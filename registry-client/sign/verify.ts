// Signing and verifying one OCI manifest by digest in any target (the local layout store or a
// registry). A signature is valid only when: the referrer's subject is the manifest, the bundle
// parses, a trusted key verifies it, and the signed statement's subject is exactly that digest
// (a signature lifted from another manifest fails here), with the wanted predicate type.
import type {KeyObject} from 'node:crypto'
import {type Descriptor, sha256} from '../descriptor.js'
import type {ReadOnlyTarget, ReferrerLister, Target} from '../target.js'
import {bundleContent, type BundleVerification, parseBundle, signStatement, type TrustedKey, verifyBundle} from './bundle.js'
import {BundleError, SignatureVerificationError} from './errors.js'
import {keyId} from './keys.js'
import {attachBundle, findBundles, type RejectedReferrer} from './referrers.js'
import {COSIGN_SIGN_PREDICATE, parseStatement, statementCovers, statementDigests, statementFor} from './statement.js'

export interface SignOptions {
  /** The subject's name in the statement (the reference the user signed, without tag is fine). */
  name: string
  predicateType?: string
  predicate?: unknown
  created?: string
}

export interface SignResult {
  /** The referrer manifest pushed. */
  referrer: Descriptor
  /** Digest of the bundle blob (the referrer's one layer). */
  bundleDigest: string
  keyId: string
  predicateType: string
}

/** Signs `subject` (by digest) with `key` and attaches the bundle to it in `target`. */
export async function signManifest(target: Target, subject: Descriptor, key: KeyObject, opts: SignOptions): Promise<SignResult> {
  const predicateType = opts.predicateType ?? COSIGN_SIGN_PREDICATE
  const statement = statementFor(opts.name, subject.digest, predicateType, opts.predicate ?? {})
  const bundle = signStatement(statement, key)
  const referrer = await attachBundle(target, subject, bundle, {content: 'dsse-envelope', predicateType, created: opts.created})
  return {referrer, bundleDigest: sha256(bundle), keyId: keyId(key), predicateType}
}

export interface VerifyOptions {
  /** For errors: what the user named ("host/team/gh:2.1.0"). */
  reference: string
  /** Only statements of this predicate type count (default: cosign's sign predicate). */
  predicateType?: string
  /** The subject manifest's bytes, for message-signature bundles (signed over them). */
  subjectBytes?: Buffer
}

export interface VerifiedSignature extends BundleVerification {
  referrer: Descriptor
}

export interface VerifyResult {
  verified: VerifiedSignature[]
  /** Referrers that were not valid signatures by a trusted key, with reasons. */
  rejected: RejectedReferrer[]
}

/**
 * Every valid signature over `subject` by one of `keys`. Throws SignatureVerificationError naming
 * the reference, digest and reasons when there is none.
 */
export async function verifyManifest(
  target: ReadOnlyTarget & ReferrerLister,
  subject: Descriptor,
  keys: readonly TrustedKey[],
  opts: VerifyOptions,
): Promise<VerifyResult> {
  if (keys.length === 0) throw new SignatureVerificationError(opts.reference, subject.digest, 'no trusted keys to verify with')
  const predicateType = opts.predicateType ?? COSIGN_SIGN_PREDICATE
  const {found, rejected} = await findBundles(target, subject)
  const verified: VerifiedSignature[] = []
  for (const f of found) {
    const where = `bundle in referrer ${f.referrer.digest}`
    const reject = (reason: string) => rejected.push({referrer: f.referrer.digest, reason})
    try {
      const bundle = parseBundle(f.bundle, where)
      const content = bundleContent(bundle)
      if (content === 'message-signature' && predicateType !== COSIGN_SIGN_PREDICATE) continue
      if (bundle.content.$case === 'dsseEnvelope') {
        // Other attestations (provenance, SBOMs) are not what is being verified: skip them unread.
        const peek = parseStatement(Buffer.from(bundle.content.dsseEnvelope.payload), where)
        if (peek.predicateType !== predicateType) continue
      }
      const result = verifyBundle(bundle, keys, where, content === 'message-signature' ? opts.subjectBytes : undefined)
      if (!result) {
        reject(`signed by a key that is not trusted (${keys.map((k) => k.name).join(', ')})`)
        continue
      }
      if (result.statement && !statementCovers(result.statement, subject.digest)) {
        reject(`the signature is over ${statementDigests(result.statement).join(', ')}, not ${subject.digest}`)
        continue
      }
      if (result.messageDigest !== undefined && result.messageDigest !== subject.digest) {
        reject(`the signature is over ${result.messageDigest}, not ${subject.digest}`)
        continue
      }
      verified.push({...result, referrer: f.referrer})
    } catch (err) {
      reject(err instanceof BundleError ? err.message.replace(`${where}: `, '') : (err as Error).message)
    }
  }
  if (verified.length === 0) {
    const what = predicateType === COSIGN_SIGN_PREDICATE ? 'signature' : `${predicateType} attestation`
    const reasons = rejected.slice(0, 5).map((r) => `referrer ${short(r.referrer)}: ${r.reason}`)
    if (rejected.length > 5) reasons.push(`and ${rejected.length - 5} more`)
    const reason = reasons.length === 0 ? `no ${what} is attached` : `no valid ${what} by a trusted key (${reasons.join('; ')})`
    throw new SignatureVerificationError(opts.reference, subject.digest, reason)
  }
  return {verified, rejected}
}

function short(digest: string): string {
  return digest.slice(0, 'sha256:'.length + 12)
}
