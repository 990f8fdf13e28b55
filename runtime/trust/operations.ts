// What `kit key generate`, `kit sign` and `kit verify` do, and the signing half of `kit push --sign
// --provenance`. A reference with a registry host (`host[:port]/path:tag`) is signed or verified on
// that registry; anything else (or `local`) in the local store. The signature is always over the
// manifest digest the reference resolves to, never over a tag. The kit compiler is loaded only when
// it is needed (provenance, local-store names): it is the heavy part of start-up.
import type {KeyObject} from 'node:crypto'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {isDigest, isManifest, type Descriptor} from '../../registry-client/descriptor.js'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {parseManifest, successors} from '../../registry-client/manifest.js'
import {parseReference} from '../../registry-client/reference.js'
import {resolveRemote} from '../../registry-client/pull.js'
import type {RemoteOptions} from '../../registry-client/remote.js'
import type {TrustedKey} from '../../registry-client/sign/bundle.js'
import {generateKeyPair, keyId, readPrivateKey, readPublicKey, writeKeyPair} from '../../registry-client/sign/keys.js'
import {COSIGN_SIGN_PREDICATE, SLSA_PROVENANCE_PREDICATE} from '../../registry-client/sign/statement.js'
import {signManifest, type SignResult, verifyManifest} from '../../registry-client/sign/verify.js'
import type {ReadOnlyTarget, ReferrerLister, Target} from '../../registry-client/target.js'
import {readAll} from '../../registry-client/verify.js'
import {storeDir} from '../home.js'
import {readPassphrase} from './passphrase.js'

export interface KeyGenerateResult {
  privateKey: string
  publicKey: string
  keyId: string
}

/** `kit key generate --output NAME`: NAME.key (encrypted) and NAME.pub. */
export async function generateKey(name: string, opts: {force?: boolean; passphrase?: string} = {}): Promise<KeyGenerateResult> {
  const passphrase = opts.passphrase ?? (await readPassphrase())
  const pair = generateKeyPair(passphrase)
  const paths = await writeKeyPair(name, pair, opts.force)
  return {privateKey: paths.privateKeyPath, publicKey: paths.publicKeyPath, keyId: pair.keyId}
}

export interface TargetOptions extends RemoteOptions {
  /** Use the local store even for a reference that names a registry. */
  local?: boolean
}

export interface OpenedSubject {
  target: Target & ReadOnlyTarget & ReferrerLister
  /** What the user named, for messages. */
  reference: string
  /** The name put in statements (repository without tag, or the store name). */
  name: string
  descriptor: Descriptor
  where: 'registry' | 'store'
}

/** Resolves `reference` to its manifest descriptor in the registry it names, or the local store. */
export async function openSubject(reference: string, opts: TargetOptions = {}): Promise<OpenedSubject> {
  let remote: ReturnType<typeof parseReference> | undefined
  if (!opts.local) {
    try {
      remote = parseReference(reference)
    } catch {
      remote = undefined
    }
  }
  if (remote) {
    // Tags, digests and semver ranges (`@^1.2`) resolve as `kit pull` resolves them.
    const r = await resolveRemote(remote, opts)
    return {target: r.repository, reference, name: remote.name, descriptor: r.descriptor, where: 'registry'}
  }
  const {storeRef} = await import('../../kit-compiler/artifact.js')
  const store = await OciLayoutStore.open(storeDir())
  const ref = storeRef(reference)
  const descriptor = await store.resolve(ref)
  const at = ref.lastIndexOf(':')
  const name = isDigest(ref) ? ref : ref.slice(0, at > ref.lastIndexOf('/') ? at : ref.length)
  return {target: store, reference, name, descriptor, where: 'store'}
}

export interface SignReferenceOptions extends TargetOptions {
  keyPath: string
  /** Default: KIT_KEY_PASSWORD or stdin. */
  passphrase?: string
  /** A kit directory: also attach signed SLSA provenance of its build. */
  provenanceFrom?: string
}

export interface SignReferenceResult {
  reference: string
  digest: string
  keyId: string
  signature: {referrer: string}
  provenance?: {referrer: string}
}

/** `kit sign REF --key NAME.key`. */
export async function signReference(reference: string, opts: SignReferenceOptions): Promise<SignReferenceResult> {
  const key = await readPrivateKey(opts.keyPath, opts.passphrase ?? (await readPassphrase()))
  const subject = await openSubject(reference, opts)
  return signSubject(subject, key, opts.provenanceFrom)
}

/** Thrown when `--provenance DIR` names a directory that does not build to the signed digest. */
export class ProvenanceMismatchError extends Error {
  readonly code = 'PROVENANCE_MISMATCH'
  constructor(
    readonly dir: string,
    readonly built: string,
    readonly signed: string,
  ) {
    super(`${dir} builds to ${built}, not the signed ${signed}: provenance would not describe it (same SOURCE_DATE_EPOCH as the build?)`)
    this.name = 'ProvenanceMismatchError'
  }
}

/** Rebuilds `kitDir` into a throw-away store and checks that it is `digest` (builds are reproducible). */
export async function checkBuildsTo(kitDir: string, digest: string): Promise<void> {
  const tmp = await mkdtemp(join(tmpdir(), 'kit-provenance-'))
  try {
    const {buildKit} = await import('../../kit-compiler/build.js')
    const built = await buildKit(kitDir, {store: await OciLayoutStore.open(tmp), tempDir: tmp})
    if (built.digest !== digest) throw new ProvenanceMismatchError(kitDir, built.digest, digest)
  } finally {
    await rm(tmp, {recursive: true, force: true})
  }
}

/**
 * Signs an opened subject, and attaches provenance of `kitDir` when given (checked to build to the
 * subject's digest unless `built` says the caller just built it from there).
 */
export async function signSubject(subject: OpenedSubject, key: KeyObject, kitDir?: string, built = false): Promise<SignReferenceResult> {
  if (kitDir !== undefined && !built) await checkBuildsTo(kitDir, subject.descriptor.digest)
  const sig: SignResult = await signManifest(subject.target, subject.descriptor, key, {name: subject.name, predicateType: COSIGN_SIGN_PREDICATE})
  const out: SignReferenceResult = {reference: subject.reference, digest: subject.descriptor.digest, keyId: keyId(key), signature: {referrer: sig.referrer.digest}}
  if (kitDir !== undefined) {
    const {kitProvenance} = await import('../../kit-compiler/trust/provenance.js')
    const statement = await kitProvenance(kitDir, subject.name, subject.descriptor.digest)
    const prov = await signManifest(subject.target, subject.descriptor, key, {
      name: subject.name,
      predicateType: SLSA_PROVENANCE_PREDICATE,
      predicate: statement.predicate,
    })
    out.provenance = {referrer: prov.referrer.digest}
  }
  return out
}

export interface PushSigningOptions extends RemoteOptions {
  sign?: boolean
  keyPath?: string
  /** Attach provenance: needs SRC to be the kit directory that was just built. */
  provenance?: boolean
  /** The kit directory SRC, when it is one. */
  kitDir?: string
}

/** Signs what `kit push` just pushed: `(destination, digest) => result`. */
export type PushSigner = (destination: string, digest: string) => Promise<SignReferenceResult>

/**
 * For `kit push --sign --key K [--provenance]`: checks the flags and decrypts the key BEFORE
 * anything is pushed (a wrong passphrase must not leave an unsigned kit behind), and returns the
 * signer to call with what was pushed; undefined when neither --sign nor --provenance is given.
 */
export async function preparePushSigning(opts: PushSigningOptions): Promise<PushSigner | undefined> {
  if (!opts.sign && !opts.provenance) return undefined
  const usage = (message: string) => Object.assign(new Error(message), {code: 'USAGE', exitCode: 2})
  if (!opts.keyPath) throw usage('--sign and --provenance need --key NAME.key')
  if (opts.provenance && opts.kitDir === undefined) throw usage('--provenance needs SRC to be a kit directory (provenance records its sources)')
  const key = await readPrivateKey(opts.keyPath, await readPassphrase())
  return async (destination, digest) => {
    const ref = parseReference(destination)
    const subject = await openSubject(ref.withDigest(digest).toString(), opts)
    return signSubject({...subject, reference: destination, name: ref.name}, key, opts.provenance ? opts.kitDir : undefined, true)
  }
}

/** For `kit push --sign`: signs what was just pushed (by digest) on the registry. */
export async function signPushed(
  destination: string,
  digest: string,
  opts: {keyPath: string; passphrase?: string; provenanceFrom?: string; provenanceBuilt?: boolean} & RemoteOptions,
): Promise<SignReferenceResult> {
  const key = await readPrivateKey(opts.keyPath, opts.passphrase ?? (await readPassphrase()))
  const ref = parseReference(destination)
  const subject = await openSubject(ref.withDigest(digest).toString(), opts)
  return signSubject({...subject, reference: destination, name: ref.name}, key, opts.provenanceFrom, opts.provenanceBuilt)
}

export interface VerifyReferenceOptions extends TargetOptions {
  keyPaths: string[]
  /** Also check an attached SLSA provenance attestation by the same keys. */
  provenance?: boolean
}

export interface VerifyReferenceResult {
  reference: string
  digest: string
  verified: true
  signatures: Array<{keyId: string; signer: string; referrer: string}>
  provenance?: Array<{keyId: string; signer: string; referrer: string; builder?: string}>
  /** Referrers that were not valid signatures (ignored because another one verified). */
  ignored: Array<{referrer: string; reason: string}>
}

/**
 * `kit verify REF --key NAME.pub`: the manifest and every blob it points at must match their
 * digests, and at least one signature over exactly that digest must verify with one of the keys.
 */
export async function verifyReference(reference: string, opts: VerifyReferenceOptions): Promise<VerifyReferenceResult> {
  const keys: TrustedKey[] = []
  for (const path of opts.keyPaths) keys.push({name: path, key: await readPublicKey(path)})
  const subject = await openSubject(reference, opts)
  const manifestBytes = await verifyContent(subject.target, subject.descriptor)
  const sig = await verifyManifest(subject.target, subject.descriptor, keys, {reference, subjectBytes: manifestBytes})
  const out: VerifyReferenceResult = {
    reference,
    digest: subject.descriptor.digest,
    verified: true,
    signatures: sig.verified.map((v) => ({keyId: v.keyId, signer: v.signer.name, referrer: v.referrer.digest})),
    ignored: sig.rejected,
  }
  if (opts.provenance) {
    const prov = await verifyManifest(subject.target, subject.descriptor, keys, {reference, predicateType: SLSA_PROVENANCE_PREDICATE})
    out.provenance = prov.verified.map((v) => {
      const builder = (v.statement?.predicate as {runDetails?: {builder?: {id?: string}}} | undefined)?.runDetails?.builder?.id
      return {keyId: v.keyId, signer: v.signer.name, referrer: v.referrer.digest, ...(builder ? {builder} : {})}
    })
  }
  return out
}

/** Reads the manifest and streams every blob under it through digest verification; returns the manifest bytes. */
export async function verifyContent(target: ReadOnlyTarget, root: Descriptor): Promise<Buffer> {
  const bytes = await readAll(await target.fetch(root), root)
  const walk = async (d: Descriptor): Promise<void> => {
    if (isManifest(d.mediaType)) {
      const b = await readAll(await target.fetch(d), d)
      for (const s of successors(parseManifest(b, d.digest))) await walk(s)
      return
    }
    const stream = await target.fetch(d)
    for await (const _ of stream) {
      // drained through the target's verifying stream; a mismatch errors here
    }
  }
  for (const s of successors(parseManifest(bytes, root.digest))) await walk(s)
  return bytes
}
