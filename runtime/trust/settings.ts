// The signature policy settings, declared in runtime/config.ts (so `kit config set` knows them):
//   kit config set kit.requireSignature true
//   kit config set kit.trustedSigners '[{"key": "/etc/kit/ci-signing.pub"}]'
// An entry is {"key": PATH} (a PEM file), {"keyData": PEM} or a bare PATH string; "name" and
// "expires" (RFC 3339; the key is refused after it) are optional.
import {getSetting, REQUIRE_SIGNATURE, TRUSTED_SIGNERS, type TrustedSigner} from '../config.js'

export {REQUIRE_SIGNATURE, TRUSTED_SIGNERS, validateSigners} from '../config.js'
export type {TrustedSigner} from '../config.js'

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
