// Enforcing kit.requireSignature: before a kit is stored by a pull, and before it is launched, its
// manifest digest must carry a valid signature by one of kit.trustedSigners. A refusal names the
// reference, the digest and the reason, in one line.
import type {Descriptor} from '../../registry-client/descriptor.js'
import type {TrustedKey} from '../../registry-client/sign/bundle.js'
import {KeyError, SignatureVerificationError} from '../../registry-client/sign/errors.js'
import {parsePublicKey, readPublicKey} from '../../registry-client/sign/keys.js'
import {verifyManifest, type VerifyResult} from '../../registry-client/sign/verify.js'
import type {ReadOnlyTarget, ReferrerLister} from '../../registry-client/target.js'
import {readAll} from '../../registry-client/verify.js'
import {loadSignaturePolicy, REQUIRE_SIGNATURE, type SignaturePolicy, TRUSTED_SIGNERS, type TrustedSigner} from './settings.js'

export class SignaturePolicyError extends Error {
  readonly code = 'SIGNATURE_REQUIRED'
  constructor(
    readonly reference: string,
    readonly digest: string,
    readonly reason: string,
  ) {
    super(`refusing ${reference} (${digest}): ${reason} [${REQUIRE_SIGNATURE.key} is on]`)
    this.name = 'SignaturePolicyError'
  }
}

/** The trusted keys of a policy, read from their files; a missing or bad file names the setting. */
export async function trustedKeys(signers: readonly TrustedSigner[]): Promise<TrustedKey[]> {
  const out: TrustedKey[] = []
  for (const [i, s] of signers.entries()) {
    try {
      if (s.key) out.push({name: s.name ?? s.key, key: await readPublicKey(s.key)})
      else out.push({name: s.name ?? `${TRUSTED_SIGNERS.key}[${i}]`, key: parsePublicKey(s.keyData ?? '', `${TRUSTED_SIGNERS.key}[${i}]`)})
    } catch (err) {
      if (err instanceof KeyError) throw new KeyError(err.path, `${err.message.slice(err.path.length + 2)} (in ${TRUSTED_SIGNERS.key})`)
      throw err
    }
  }
  return out
}

/**
 * Checks `subject` in `target` against the signature policy (loaded from settings when not given).
 * Returns the verification when a signature was required and found, undefined when not required.
 */
export async function enforceSignaturePolicy(
  target: ReadOnlyTarget & ReferrerLister,
  subject: Descriptor,
  reference: string,
  policy?: SignaturePolicy,
  subjectBytes?: Buffer,
): Promise<VerifyResult | undefined> {
  const p = policy ?? (await loadSignaturePolicy())
  if (!p.requireSignature) return undefined
  if (p.trustedSigners.length === 0) throw new SignaturePolicyError(reference, subject.digest, `${TRUSTED_SIGNERS.key} is empty, so no signature can be trusted`)
  const now = Date.now()
  const expired = p.trustedSigners.filter((s) => s.expires !== undefined && Date.parse(s.expires) <= now)
  const current = p.trustedSigners.filter((s) => !expired.includes(s))
  const expiredNote = expired.map((s) => `${s.name ?? s.key ?? 'a key'} expired ${s.expires}`).join(', ')
  if (current.length === 0) throw new SignaturePolicyError(reference, subject.digest, `every key in ${TRUSTED_SIGNERS.key} has expired (${expiredNote})`)
  const keys = await trustedKeys(current)
  try {
    // The manifest bytes, verified against the digest: message-signature bundles sign them.
    const bytes = subjectBytes ?? (await readAll(await target.fetch(subject), subject))
    return await verifyManifest(target, subject, keys, {reference, subjectBytes: bytes})
  } catch (err) {
    if (err instanceof SignatureVerificationError) throw new SignaturePolicyError(reference, subject.digest, err.reason + (expired.length ? `; not trusted any more: ${expiredNote}` : ''))
    throw err
  }
}
