// Errors of signing and verification. Each carries a string `code` and one line a user can act on:
// the key file, the reference and digest, and why a signature was refused.
import {RegistryClientError} from '../errors.js'

/** A key file that cannot be read, decrypted or used (wrong passphrase, wrong curve, not a key). */
export class KeyError extends RegistryClientError {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super('KEY_ERROR', `${path}: ${reason}`)
  }
}

/** A Sigstore bundle that is too large, not JSON, or not a v0.3 bundle of a form kit verifies. */
export class BundleError extends RegistryClientError {
  constructor(
    readonly where: string,
    reason: string,
  ) {
    super('BUNDLE_INVALID', `${where}: ${reason}`)
  }
}

/** Verification found no valid signature over `digest` by a trusted key. */
export class SignatureVerificationError extends RegistryClientError {
  constructor(
    readonly reference: string,
    readonly digest: string,
    readonly reason: string,
  ) {
    super('SIGNATURE_INVALID', `${reference}@${digest}: ${reason}`)
  }
}
