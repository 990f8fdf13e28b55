// Pulls under the signature policy: with kit.requireSignature on, the reference is resolved on its
// registry, the digest's signature checked there, and only then pulled (pinned to that digest, with
// its referrers so that launch can check it again offline). Without the setting, a plain pull;
// a frozen-lockfile pull still checks each kit against the permission surface the lockfile recorded.
import type {Descriptor} from '../../registry-client/descriptor.js'
import {checkEntry, checkKitsFileLocked, findLocked, LockfileError, readLockfile} from '../../registry-client/lockfile.js'
import {pull, pullLocked, type PullOptions, type PullResult, resolveRemote} from '../../registry-client/pull.js'
import type {Reference} from '../../registry-client/reference.js'
import type {Target} from '../../registry-client/target.js'
import {loadSignaturePolicy, type SignaturePolicy} from './settings.js'

export interface TrustedPullOptions extends PullOptions {
  /** The policy to apply (default: from settings). */
  policy?: SignaturePolicy
}

/** `kit pull REF` with the signature policy applied before anything is stored. */
export async function pullWithPolicy(reference: string | Reference, store: Target, opts: TrustedPullOptions = {}): Promise<PullResult> {
  const policy = opts.policy ?? (await loadSignaturePolicy())
  if (!policy.requireSignature) return pull(reference, store, opts)
  const r = await resolveRemote(reference, opts)
  const {enforceSignaturePolicy} = await import('./policy.js')
  await enforceSignaturePolicy(r.repository, r.descriptor, r.reference, policy)
  return pull(reference, store, {...opts, referrers: true, expectDigest: r.descriptor.digest})
}

/**
 * `kit pull --frozen-lockfile` with the signature policy applied to every pinned digest, and each
 * kit checked against the permission surface the lockfile recorded for it (a digest edited by hand
 * to another kit is refused even when that kit is signed).
 */
export async function pullLockedWithPolicy(lockfilePath: string, reference: string | undefined, store: Target, opts: TrustedPullOptions = {}): Promise<PullResult[]> {
  const policy = opts.policy ?? (await loadSignaturePolicy())
  const lock = await readLockfile(lockfilePath)
  if (!lock) throw new LockfileError('LOCKFILE_MISSING', `${lockfilePath}: no lockfile (run kit lock first)`)
  let keys = Object.keys(lock.kits).sort()
  if (reference === undefined) await checkKitsFileLocked(lockfilePath, lock)
  if (reference !== undefined) {
    const found = findLocked(lock, reference)
    if (!found) throw new LockfileError('NOT_IN_LOCKFILE', `${reference} is not in ${lockfilePath} and --frozen-lockfile was given`)
    keys = [found[0]]
  }
  // Check every entry before pulling any, so a refusal stores nothing.
  for (const key of keys) {
    const entry = lock.kits[key]!
    checkEntry(lockfilePath, key, entry)
    const r = await resolveRemote(entry.resolved, opts)
    const {enforceSignaturePolicy} = await import('./policy.js')
    await enforceSignaturePolicy(r.repository, r.descriptor as Descriptor, `${key} (${entry.resolved.split('@')[0]})`, policy)
    if (entry.surface !== undefined) {
      // The kit compiler loads only here (it is the heavy part of start-up).
      const {NotAKitError} = await import('../../kit-compiler/artifact.js')
      const {artifactSurface} = await import('../../kit-compiler/trust/artifact-surface.js')
      const {canonicalJson, parseSurface, surfaceWidening} = await import('../../kit-compiler/trust/surface.js')
      const recorded = parseSurface(entry.surface, `${lockfilePath}: ${key}`)
      const actual = await artifactSurface(r.repository, r.descriptor, entry.resolved).catch((err) => {
        if (err instanceof NotAKitError) return undefined
        throw err
      })
      if (actual !== undefined && canonicalJson(actual) !== canonicalJson(recorded)) {
        const wider = surfaceWidening(recorded, actual).map((w) => w.message)
        throw new LockfileError(
          'LOCKFILE_MISMATCH',
          `${lockfilePath}: ${key}: the kit at ${r.descriptor.digest} does not grant what the lockfile recorded for it (edited by hand?)${wider.length ? `: ${wider.join('; ')}` : ''}`,
        )
      }
    }
  }
  const out: PullResult[] = []
  for (const key of keys) out.push(...(await pullLocked(lockfilePath, key, store, {...opts, referrers: true})))
  return out
}
