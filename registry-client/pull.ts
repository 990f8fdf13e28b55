// Pulling into a local store: resolve a reference (tag, digest or semver range) on its registry,
// check it against the allowed sources, copy the graph (picking one platform from a
// multi-platform index), and tag it in the store under its full name.
import {copy} from './copy.js'
import type {Descriptor} from './descriptor.js'
import {MissingContentError, NotFoundError, RegistryClientError} from './errors.js'
import {checkEntry, checkKitsFileLocked, findLocked, LockfileError, lockKits, type LockOptions, type LockResult, readLockfile} from './lockfile.js'
import type {BlobSources} from './blob-sources.js'
import {DEFAULT_PLATFORM, parseManifest, type PlatformSpec, successors} from './manifest.js'
import {parseReference, type Reference} from './reference.js'
import {RemoteRepository, type RemoteOptions} from './remote.js'
import {resolveRange, versionOfTag} from './semver.js'
import {checkAllowedSource} from './sources.js'
import type {ProgressEvent, Target} from './target.js'
import {readAll} from './verify.js'

/** Pushes and tags tried when a concurrent gc keeps removing what was pushed. */
export const MISSING_CONTENT_ATTEMPTS = 3

export interface ResolveOptions extends RemoteOptions {
  /** Registry/namespace prefixes that may be pulled (empty: any). */
  allowedSources?: readonly string[]
  /** The setting that holds allowedSources, for the error message. */
  allowedSourcesSetting?: string
}

export interface Resolved {
  /** The reference as asked for. */
  reference: string
  /** The tag it resolved to (ranges, tags), if any. */
  tag?: string
  /** The semver version of that tag, if it is one. */
  version?: string
  descriptor: Descriptor
  /** registry/repository@sha256:... */
  resolved: string
  repository: RemoteRepository
}

/** Resolves a reference on its registry (without pulling it). */
export async function resolveRemote(reference: string | Reference, opts: ResolveOptions = {}): Promise<Resolved> {
  const ref = typeof reference === 'string' ? parseReference(reference) : reference
  checkAllowedSource(ref, opts.allowedSources, opts.allowedSourcesSetting)
  const repository = new RemoteRepository(ref, opts)
  let tag = ref.tag
  let version: string | undefined
  if (ref.range !== undefined) {
    const match = resolveRange(ref.range, await repository.tags())
    if (!match) throw new NotFoundError(`${ref}: no tag matches ${ref.range}`, ref.toString())
    tag = match.tag
    version = match.version
  } else if (tag === undefined && ref.digest === undefined) {
    tag = 'latest'
  }
  if (version === undefined && tag !== undefined) version = versionOfTag(tag)
  const descriptor = await repository.resolve(ref.digest ?? tag!)
  return {reference: ref.toString(), tag, version, descriptor, resolved: ref.withDigest(descriptor.digest).toString(), repository}
}

export interface PullOptions extends ResolveOptions {
  /** From a multi-platform index, pull this platform (default linux/amd64). */
  platform?: PlatformSpec
  /** Also pull the referrers (signatures) of what is pulled. Default true. */
  referrers?: boolean
  concurrency?: number
  onProgress?: (event: ProgressEvent) => void
  /** Records which repository of the registry has the pulled blobs (for mounts on a later push). */
  blobSources?: BlobSources
}

export interface PullResult {
  reference: string
  /** registry/repository@sha256:... of what was stored (the platform manifest for an index). */
  resolved: string
  digest: string
  mediaType: string
  size: number
  tag?: string
  version?: string
  /** The names it has in the local store. */
  storedAs: string[]
  bytesDownloaded: number
  blobsSkipped: number
}

/**
 * Pulls `reference` into `store`, tagged there as registry/repository:tag (or @digest when pulled
 * by digest). `expectDigest` (a lockfile's) makes any other resolution an error.
 */
export async function pull(reference: string | Reference, store: Target, opts: PullOptions & {expectDigest?: string} = {}): Promise<PullResult> {
  try {
    return await pullOnce(reference, store, opts)
  } catch (err) {
    throw namingReference(err, String(reference))
  }
}

/** Every pull error names what was pulled (a digest mismatch deep in a layer says which kit). */
function namingReference(err: unknown, reference: string): unknown {
  if (!(err instanceof RegistryClientError)) return err
  const repo = reference.replace(/[@:][^/]*$/, '')
  if (err.message.includes(repo)) return err
  err.message = `pull ${reference}: ${err.message}`
  return err
}

async function pullOnce(reference: string | Reference, store: Target, opts: PullOptions & {expectDigest?: string}): Promise<PullResult> {
  const r = await resolveRemote(reference, opts)
  const ref = parseReference(r.resolved)
  if (opts.expectDigest !== undefined && r.descriptor.digest !== opts.expectDigest) {
    throw new NotFoundError(`${r.reference} resolved to ${r.descriptor.digest}, not the locked ${opts.expectDigest}`, r.reference)
  }
  const byDigest = parseReference(r.reference).digest !== undefined || r.tag === undefined
  const name = byDigest ? r.resolved : ref.withTag(r.tag!).toString()
  const copyOpts = {
    platform: opts.platform ?? DEFAULT_PLATFORM,
    referrers: opts.referrers ?? true,
    concurrency: opts.concurrency,
    onProgress: opts.onProgress,
    retry: opts.retry,
  }
  // A concurrent `kit rm` may collect blobs this pull found present before its tag lands: the
  // store refuses the tag (MissingContentError) and the pull fetches what is missing again.
  let copied
  for (let attempt = 1; ; attempt++) {
    try {
      copied = await copy(r.repository, r.descriptor.digest, store, name, copyOpts)
      break
    } catch (err) {
      if (!(err instanceof MissingContentError) || attempt >= MISSING_CONTENT_ATTEMPTS) throw err
    }
  }
  const d = copied.descriptor
  if (opts.blobSources) await opts.blobSources.record(ref.registry, ref.repository, successors(parseManifest(await readAll(await store.fetch(d), d), name)))
  return {
    reference: r.reference,
    resolved: ref.withDigest(d.digest).toString(),
    digest: d.digest,
    mediaType: d.mediaType,
    size: d.size,
    tag: r.tag,
    version: r.version,
    storedAs: [name],
    bytesDownloaded: copied.bytesCopied,
    blobsSkipped: copied.blobsSkipped,
  }
}

/** Pulls what a lockfile pins, by digest only: `reference` (a key or resolved name) or every entry. */
export async function pullLocked(lockfilePath: string, reference: string | undefined, store: Target, opts: PullOptions = {}): Promise<PullResult[]> {
  const lock = await readLockfile(lockfilePath)
  if (!lock) throw new LockfileError('LOCKFILE_MISSING', `${lockfilePath}: no lockfile (run kit lock first)`)
  let entries = Object.entries(lock.kits).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  if (reference === undefined) await checkKitsFileLocked(lockfilePath, lock)
  if (reference !== undefined) {
    const found = findLocked(lock, reference)
    if (!found) throw new LockfileError('NOT_IN_LOCKFILE', `${reference} is not in ${lockfilePath} and --frozen-lockfile was given`)
    entries = [found]
  }
  const out: PullResult[] = []
  for (const [key, entry] of entries) {
    checkEntry(lockfilePath, key, entry)
    const digest = parseReference(entry.resolved).digest!
    const r = await pull(entry.resolved, store, {...opts, expectDigest: digest})
    out.push({...r, reference: key, version: entry.version ?? undefined})
  }
  return out
}

/** `kit lock`: resolves a kits file's references on their registries into its lockfile. */
export async function lockFromRegistry(kitsFile: string, opts: Omit<LockOptions, 'resolve'> & ResolveOptions = {}): Promise<LockResult> {
  return lockKits(kitsFile, {
    ...opts,
    resolve: async (reference) => {
      const r = await resolveRemote(reference, opts)
      return {version: r.version, resolved: r.resolved, digest: r.descriptor.digest}
    },
  })
}
