// Graph copy between two targets: push, pull and registry-to-registry copy are all this.
// Walks the root manifest down (index children, config, layers), transfers what the destination
// lacks, children before parents (a registry refuses a manifest whose blobs it has not got),
// and finally points the destination reference at the root.
import {type Readable, Transform, type TransformCallback} from 'node:stream'
import {type Descriptor, isIndex, isManifest} from './descriptor.js'
import {NotFoundError} from './errors.js'
import {type PlatformSpec, parseManifest, selectPlatform, successors} from './manifest.js'
import type {Mounter, ProgressEvent, ReadOnlyTarget, ReferencePusher, ReferrerLister, Target} from './target.js'
import {backoffMs, DEFAULT_RETRY_POLICY, isMarkedRetryable, type RetryPolicy, sleep} from './retry.js'
import {markVerified, readAll} from './verify.js'

export interface CopyOptions {
  /** Blobs transferred at once (default 4). */
  concurrency?: number
  /** Also copy the root's referrers (signatures, SBOMs), recursively, when the source lists them. */
  referrers?: boolean
  /** When the root is a multi-platform index, copy (and tag) only this platform's manifest. */
  platform?: PlatformSpec
  /** Mount blobs from this repository of the destination registry instead of uploading them. */
  mountFrom?: string
  /** Per blob: a repository of the destination registry to mount it from (when mountFrom is not set). */
  mountSource?: (desc: Descriptor) => string | undefined
  /** Progress of each blob, for a progress bar. */
  onProgress?: (event: ProgressEvent) => void
  /** Retries of a whole blob transfer when the destination could not retry by itself. */
  retry?: Partial<RetryPolicy>
  /** Called with the resolved root before anything is written (e.g. to refuse re-pointing a tag). */
  beforeTag?: (root: Descriptor) => Promise<void>
}

export interface CopyResult {
  /** The root that `dstRef` now points at. */
  descriptor: Descriptor
  /** Bytes sent to the destination (blobs and manifests). */
  bytesCopied: number
  blobsCopied: number
  /** Content the destination already had (or mounted), not transferred. */
  blobsSkipped: number
}

/**
 * Copies the graph rooted at `srcRef` in `src` to `dst`, tagging it `dstRef` (omit to copy
 * untagged, addressable by digest). Returns the root descriptor and transfer counts.
 */
export async function copy(
  src: ReadOnlyTarget,
  srcRef: string,
  dst: Target,
  dstRef?: string,
  opts: CopyOptions = {},
): Promise<CopyResult> {
  let root = await src.resolve(srcRef)
  let rootBytes = await readAll(await src.fetch(root), root)
  if (opts.platform && isIndex(root.mediaType)) {
    const child = selectPlatform(parseManifest(rootBytes, srcRef), opts.platform)
    if (!child) {
      const p = opts.platform
      throw new NotFoundError(`${srcRef}: no ${p.os}/${p.architecture}${p.variant ? '/' + p.variant : ''} manifest in the index`, srcRef)
    }
    root = {mediaType: child.mediaType, digest: child.digest, size: child.size}
    rootBytes = await readAll(await src.fetch(root), root)
  }
  if (opts.beforeTag) await opts.beforeTag(root)
  const result: CopyResult = {descriptor: root, bytesCopied: 0, blobsCopied: 0, blobsSkipped: 0}
  if (dstRef !== undefined) {
    const current = await dst.resolve(dstRef).catch((err) => {
      if (err instanceof NotFoundError || (err as {code?: string}).code === 'NOT_FOUND') return undefined
      throw err
    })
    if (current?.digest === root.digest && (await complete(dst, root))) {
      result.blobsSkipped++
      if (opts.referrers) await new Copier(src, dst, opts, result).referrersOf(root)
      return result
    }
  }
  const copier = new Copier(src, dst, opts, result)
  const rootExists = await dst.exists(root)
  if (!rootExists || !(await complete(dst, root))) {
    await settleAll(successors(parseManifest(rootBytes, srcRef)).map((d) => copier.node(d)))
  }
  if (dstRef !== undefined && isReferencePusher(dst)) {
    await dst.pushReference(root, rootBytes, dstRef)
    result.bytesCopied += rootBytes.byteLength
    result.blobsCopied++
  } else {
    if (rootExists) {
      result.blobsSkipped++
    } else {
      await dst.push(root, rootBytes)
      result.bytesCopied += rootBytes.byteLength
      result.blobsCopied++
    }
    if (dstRef !== undefined) await dst.tag(root, dstRef)
  }
  if (opts.referrers) await copier.referrersOf(root)
  return result
}

class Copier {
  private readonly done = new Map<string, Promise<void>>()
  private active = 0
  private readonly waiting: Array<() => void> = []
  private readonly limit: number

  constructor(
    private readonly src: ReadOnlyTarget,
    private readonly dst: Target,
    private readonly opts: CopyOptions,
    private readonly result: CopyResult,
  ) {
    this.limit = Math.max(1, opts.concurrency ?? 4)
  }

  node(desc: Descriptor): Promise<void> {
    let p = this.done.get(desc.digest)
    if (!p) {
      p = this.copyNode(desc)
      this.done.set(desc.digest, p)
    }
    return p
  }

  private async copyNode(desc: Descriptor): Promise<void> {
    if ((await this.dst.exists(desc)) && (!isManifest(desc.mediaType) || (await complete(this.dst, desc)))) {
      this.result.blobsSkipped++
      this.opts.onProgress?.({type: 'skip', descriptor: desc})
      return
    }
    if (isManifest(desc.mediaType)) {
      const bytes = await readAll(await this.src.fetch(desc), desc)
      await settleAll(successors(parseManifest(bytes, desc.digest)).map((d) => this.node(d)))
      await this.dst.push(desc, bytes) // a no-op for a manifest the destination has (its children were missing)
      this.result.bytesCopied += bytes.byteLength
      this.result.blobsCopied++
      return
    }
    await this.slot(async () => {
      const from = this.opts.mountFrom ?? this.opts.mountSource?.(desc)
      // A mountSource is a hint (say, a repository this user may no longer read): any refusal means upload.
      const hint = this.opts.mountFrom === undefined
      if (from && isMounter(this.dst) && (await this.dst.mount(desc, from).catch((err) => (hint ? false : Promise.reject(err))))) {
        this.result.blobsSkipped++
        this.opts.onProgress?.({type: 'mount', descriptor: desc, from})
        return
      }
      this.opts.onProgress?.({type: 'start', descriptor: desc})
      const policy = {...DEFAULT_RETRY_POLICY, ...(this.opts.retry ?? {})}
      for (let attempt = 0; ; attempt++) {
        const source = await this.src.fetch(desc)
        // Without a progress listener the source goes to the destination as it is: no counting
        // stage for every chunk of every blob.
        let content: Readable = source
        if (this.opts.onProgress) {
          const counter = markVerified(new Counter(desc, this.opts.onProgress), source)
          source.on('error', (err) => counter.destroy(err))
          content = source.pipe(counter)
        }
        try {
          await this.dst.push(desc, content)
          break
        } catch (err) {
          source.destroy()
          // The destination consumed the stream and could not retry by itself: start over.
          if (!isMarkedRetryable(err) || attempt >= policy.retries) throw err
          await sleep(backoffMs(attempt, policy))
        }
      }
      this.result.bytesCopied += desc.size
      this.result.blobsCopied++
      this.opts.onProgress?.({type: 'done', descriptor: desc, bytes: desc.size})
    })
  }

  async referrersOf(subject: Descriptor, seen: Set<string> = new Set([subject.digest])): Promise<void> {
    if (!isReferrerLister(this.src)) return
    for (const r of await this.src.referrers(subject)) {
      // A referrers index that lists its subject (or a cycle) is not followed.
      if (seen.has(r.digest)) continue
      seen.add(r.digest)
      await this.node({mediaType: r.mediaType, digest: r.digest, size: r.size})
      await this.referrersOf(r, seen)
    }
  }

  private async slot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve))
    this.active++
    try {
      return await fn()
    } finally {
      this.active--
      this.waiting.shift()?.()
    }
  }
}

/** Counts bytes through a copy and reports progress. */
class Counter extends Transform {
  private bytes = 0
  constructor(
    private readonly desc: Descriptor,
    private readonly onProgress?: (event: ProgressEvent) => void,
  ) {
    super()
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length
    this.onProgress?.({type: 'progress', descriptor: this.desc, bytes: this.bytes})
    callback(null, chunk)
  }
}

/** Like Promise.all, but waits for every transfer to end before failing: nothing keeps writing after copy() returns. */
async function settleAll(promises: Array<Promise<void>>): Promise<void> {
  const results = await Promise.allSettled(promises)
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) throw failed.reason
}

/** A store that can tell which blobs of a graph it lacks (the local store): are there none? */
async function complete(dst: unknown, root: Descriptor): Promise<boolean> {
  const m = (dst as {missing?: (d: Descriptor) => Promise<string[]>}).missing
  if (typeof m !== 'function') return true
  return (await m.call(dst, root)).length === 0
}

function isReferencePusher(t: unknown): t is ReferencePusher {
  return typeof (t as ReferencePusher).pushReference === 'function'
}

function isMounter(t: unknown): t is Mounter {
  return typeof (t as Mounter).mount === 'function'
}

function isReferrerLister(t: unknown): t is ReferrerLister {
  return typeof (t as ReferrerLister).referrers === 'function'
}
