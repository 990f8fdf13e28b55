// The launch half of the signature policy: with kit.requireSignature on, every kit a sandbox stacks
// must be a store artifact whose manifest digest carries a valid signature by a trusted signer,
// checked against the referrers in the local store (pull copies them) before anything is composed
// or run. A kit directory has no signature and is refused.
import type {OciLayoutStore} from '../../registry-client/layout-store.js'
import {enforceSignaturePolicy, SignaturePolicyError} from './policy.js'
import {loadSignaturePolicy, type SignaturePolicy} from './settings.js'

export interface LaunchedKit {
  /** What the user typed. */
  input: string
  source: 'dir' | 'store' | 'registry'
  reference?: string
  digest?: string
}

/** Throws SignaturePolicyError for the first kit that may not be launched under the policy. */
export async function enforceLaunchPolicy(store: OciLayoutStore, kits: readonly LaunchedKit[], policy?: SignaturePolicy): Promise<void> {
  const p = policy ?? (await loadSignaturePolicy())
  if (!p.requireSignature) return
  for (const k of kits) {
    if (k.source === 'dir' || !k.digest) throw new SignaturePolicyError(k.input, 'unsigned', 'a kit directory carries no signature; launch a signed kit from a registry or the store')
    const descriptor = await store.resolve(k.digest)
    await enforceSignaturePolicy(store, descriptor, k.reference ?? k.input, p)
  }
}
