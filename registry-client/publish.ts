// Publishing a manifest from a local target to a registry under semver tags (semver.ts): the
// exact tag (never re-pointed to another digest without `force`), then x.y, x and latest where
// that moves them forward. A second push of the same content uploads nothing.
import {copy, type CopyOptions} from './copy.js'
import {type Descriptor, isDigest} from './descriptor.js'
import {InvalidReferenceError, NotFoundError, RegistryClientError, TagExistsError} from './errors.js'
import type {BlobSources} from './blob-sources.js'
import {parseManifest, successors} from './manifest.js'
import {parseReference} from './reference.js'
import {RemoteRepository, type RemoteOptions} from './remote.js'
import {publishTags, tagForVersion, tagVersionMismatch, versionOfTag} from './semver.js'
import type {ProgressEvent, ReadOnlyTarget} from './target.js'
import {readAll} from './verify.js'

export interface PushOptions extends RemoteOptions {
  /** Re-point an existing exact-version tag to another digest. */
  force?: boolean
  /** Manifest annotations holding the version, when DEST has no tag (first present wins). */
  versionAnnotations?: string[]
  /** Also push the root's referrers (signatures) found in the source. Default true. */
  referrers?: boolean
  concurrency?: number
  onProgress?: (event: ProgressEvent) => void
  /** Where blobs were seen on registries: mount from there, and record what this push moved. */
  blobSources?: BlobSources
}

export interface PushResult {
  /** The destination as pushed: registry/repository:exact-tag (or @digest). */
  reference: string
  digest: string
  mediaType: string
  size: number
  /** Every tag that now points at the digest: the exact one first. */
  tags: string[]
  bytesUploaded: number
  blobsSkipped: number
  /** What the caller should hear about (a tag that disagrees with the kit's version). */
  warnings: string[]
}

const DEFAULT_VERSION_ANNOTATIONS = ['org.opencontainers.image.version']

/** Pushes `srcRef` of `src` to `dest` ("host/repo[:tag]" or "host/repo@sha256:..."). */
export async function push(src: ReadOnlyTarget, srcRef: string, dest: string, opts: PushOptions = {}): Promise<PushResult> {
  const ref = parseReference(dest)
  if (ref.range !== undefined) throw new InvalidReferenceError(dest, 'a version range cannot be pushed to; name a tag')
  const root = await src.resolve(srcRef)
  const bytes = await readAll(await src.fetch(root), root)
  const repo = new RemoteRepository(ref, opts)
  const copyOpts: CopyOptions = {referrers: opts.referrers ?? true, concurrency: opts.concurrency, onProgress: opts.onProgress, retry: opts.retry}
  // Promoting what was pulled from the same registry (team/x → prod/x): mount, do not upload.
  const from = sourceRepository(srcRef)
  if (from && from.registry === ref.registry && from.repository !== ref.repository) copyOpts.mountFrom = from.repository
  const sources = opts.blobSources
  if (sources) copyOpts.mountSource = (d) => sources.repositoryOf(ref.registry, d.digest, ref.repository)
  const record = async () => sources?.record(ref.registry, ref.repository, successors(parseManifest(bytes, srcRef)))

  if (ref.digest !== undefined) {
    if (ref.digest !== root.digest) throw new RegistryClientError('DIGEST_MISMATCH', `${srcRef} is ${root.digest}, not ${ref.digest}`)
    const r = await copy(src, srcRef, repo, undefined, copyOpts)
    await record()
    return result(ref.withDigest(root.digest).toString(), root, [], r.bytesCopied, r.blobsSkipped)
  }

  const warnings: string[] = []
  if (ref.tag !== undefined) {
    const annotations = parseManifest(bytes, srcRef).annotations ?? {}
    const declared = (opts.versionAnnotations ?? DEFAULT_VERSION_ANNOTATIONS).map((k) => annotations[k]).find((v) => v !== undefined && v !== '')
    const mismatch = tagVersionMismatch(ref.tag, declared)
    if (mismatch) warnings.push(mismatch)
  }
  let exact = ref.tag
  let version = exact !== undefined ? versionOfTag(exact) : undefined
  if (exact === undefined) {
    const annotations = parseManifest(bytes, srcRef).annotations ?? {}
    version = (opts.versionAnnotations ?? DEFAULT_VERSION_ANNOTATIONS).map((k) => annotations[k]).find((v) => v !== undefined && v !== '')
    if (version === undefined) throw new InvalidReferenceError(dest, 'no tag given and the artifact carries no version annotation')
    exact = tagForVersion(version)
    if (versionOfTag(exact) === undefined) throw new RegistryClientError('INVALID_VERSION', `${srcRef}: version ${JSON.stringify(version)} is not semver`)
  }

  let moving: string[] = []
  if (version !== undefined) {
    const current = await currentDigest(repo, exact)
    if (current !== undefined && current !== root.digest && !opts.force) {
      throw new TagExistsError(ref.withTag(exact).toString(), current, root.digest)
    }
    moving = publishTags(version, await repo.tags()).moving
  }
  const r = await copy(src, srcRef, repo, exact, copyOpts)
  await record()
  let bytesUploaded = r.bytesCopied
  for (const tag of moving) {
    if ((await currentDigest(repo, tag)) === root.digest) continue
    await repo.pushReference(root, bytes, tag)
    bytesUploaded += bytes.byteLength
  }
  return {...result(ref.withTag(exact).toString(), root, [exact, ...moving], bytesUploaded, r.blobsSkipped), warnings}
}

/** The registry repository a store reference was pulled from ("host/team/x:1" → host, team/x). */
function sourceRepository(srcRef: string): {registry: string; repository: string} | undefined {
  try {
    const r = parseReference(srcRef)
    return {registry: r.registry, repository: r.repository}
  } catch {
    return undefined
  }
}

async function currentDigest(repo: RemoteRepository, tag: string): Promise<string | undefined> {
  if (isDigest(tag)) return tag
  try {
    return (await repo.resolve(tag)).digest
  } catch (err) {
    if (err instanceof NotFoundError) return undefined
    throw err
  }
}

function result(reference: string, root: Descriptor, tags: string[], bytesUploaded: number, blobsSkipped: number): PushResult {
  return {reference, digest: root.digest, mediaType: root.mediaType, size: root.size, tags, bytesUploaded, blobsSkipped, warnings: []}
}
