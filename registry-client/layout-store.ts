// The local store: an OCI image layout directory (image-spec image-layout.md).
//
//   DIR/oci-layout            {"imageLayoutVersion":"1.0.0"}
//   DIR/index.json            every reference, sorted: tagged manifests carry
//                             org.opencontainers.image.ref.name; referrer manifests (with a
//                             `subject`) are listed untagged so they survive gc
//   DIR/blobs/sha256/<hex>    content, written to a temp file in the same dir, verified, renamed
//
// A reference is whatever string the caller tags with. kit's own store uses full names
// ("my-mixin:1.2.3", "registry.example.com/team/gh:2.1.0"); an export for other tools tags with
// the bare tag ("1.2.3"), which is what `skopeo inspect oci:DIR:1.2.3` looks up. Both are the same
// class: `(await OciLayoutStore.open(dir)).tag(desc, '1.2.3')`, or copy(store, ref, out, '1.2.3').
//
// index.json is read-modify-written under a lock file (index.json.lock) and replaced by rename, so
// two kit processes can write the same store at once.
import {randomBytes} from 'node:crypto'
import {once} from 'node:events'
import {createWriteStream, type WriteStream} from 'node:fs'
import {mkdir, open, readdir, readFile, rename, rm, stat} from 'node:fs/promises'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {type Descriptor, digestHex, isDigest, isManifest, MediaType} from './descriptor.js'
import {InvalidManifestError, MissingContentError, NotFoundError, RegistryClientError} from './errors.js'
import {atomicWrite} from './atomic.js'
import {testPause, withLock} from './lock.js'
import {manifestMediaType, parseManifest, referrerDescriptor, successors} from './manifest.js'
import type {Deleter, ReferenceLister, ReferrerLister, TagLister, Target} from './target.js'
import {alreadyVerified, MAX_METADATA_BYTES, readAll, VerifyStream, verifyBytes, verifying} from './verify.js'

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name'
const LAYOUT_FILE = 'oci-layout'
const INDEX_FILE = 'index.json'
const LAYOUT_VERSION = '1.0.0'
const TEMP_PREFIX = '.tmp-'
/** Read blobs in 1 MiB chunks: fewer, larger writes down the copy pipeline. */
const READ_CHUNK = 1024 * 1024
/** Temp files older than this are from a dead writer and gc removes them. */
const STALE_TEMP_MS = 60 * 60 * 1000

interface IndexFile {
  schemaVersion: 2
  mediaType?: string
  manifests: Descriptor[]
  annotations?: Record<string, string>
}

export interface StoredReference {
  reference: string
  descriptor: Descriptor
}

export interface GcOptions {
  /**
   * Keep unreferenced blobs modified less than this long ago (default 0). A process that writes
   * blobs first and tags later (a build, a pull) may be racing a gc in another process; a grace
   * period of a few minutes spares it a rewrite (tag() re-checks under the lock either way).
   */
  graceMs?: number
  /** References removed first, under the same lock as the collection (kit rm). */
  untag?: readonly string[]
  /** Digests removed when unreachable whatever their age (the removed artifact's own blobs). */
  collect?: Iterable<string>
}

export interface GcResult {
  removed: string[]
  bytesFreed: number
  /** Of `untag`, the references that were there and are now gone. */
  untagged: string[]
}

export class OciLayoutStore implements Target, TagLister, ReferrerLister, Deleter, ReferenceLister {
  private constructor(readonly dir: string) {}

  /** Opens the layout at `dir`, creating an empty one when it is missing. */
  static async open(dir: string): Promise<OciLayoutStore> {
    const store = new OciLayoutStore(dir)
    await mkdir(store.blobDir, {recursive: true})
    const layoutPath = join(dir, LAYOUT_FILE)
    try {
      const layout = JSON.parse(await readFile(layoutPath, 'utf8')) as {imageLayoutVersion?: string}
      if (layout.imageLayoutVersion !== LAYOUT_VERSION) {
        throw new RegistryClientError(
          'INVALID_LAYOUT',
          `${layoutPath}: unsupported imageLayoutVersion ${JSON.stringify(layout.imageLayoutVersion)}`,
        )
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      await atomicWrite(layoutPath, JSON.stringify({imageLayoutVersion: LAYOUT_VERSION}))
    }
    try {
      await stat(store.indexPath)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      await store.updateIndex(async (index) => index)
    }
    await store.removeDeadTemps()
    return store
  }

  /** Temp files of writers that died (kill -9 mid-pull): partial blobs nobody will finish. */
  private async removeDeadTemps(): Promise<void> {
    let names: string[]
    try {
      names = await readdir(this.blobDir)
    } catch {
      return
    }
    for (const name of names) {
      if (name.startsWith(TEMP_PREFIX) && tempOfDeadWriter(name)) await rm(join(this.blobDir, name), {force: true}).catch(() => undefined)
    }
  }

  private get blobDir(): string {
    return join(this.dir, 'blobs', 'sha256')
  }

  private get indexPath(): string {
    return join(this.dir, INDEX_FILE)
  }

  /** The file a blob lives in (for callers that want to hand a path to another tool). */
  blobPath(digest: string): string {
    return join(this.blobDir, digestHex(digest))
  }

  // ---- Storage ----------------------------------------------------------------------------

  async exists(desc: Pick<Descriptor, 'digest'>): Promise<boolean> {
    try {
      await stat(this.blobPath(desc.digest))
      return true
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
      throw err
    }
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    const path = this.blobPath(desc.digest)
    const fh = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new NotFoundError(`${desc.digest}: not in the store ${this.dir}`)
      throw err
    })
    return verifying(fh.createReadStream({highWaterMark: READ_CHUNK}), desc)
  }

  /** Reads a manifest, config or other small blob, verified. */
  async fetchBytes(desc: Descriptor, maxBytes = MAX_METADATA_BYTES): Promise<Buffer> {
    return readAll(await this.fetch(desc), desc, maxBytes)
  }

  async push(expected: Descriptor, content: Readable | Uint8Array): Promise<void> {
    let bytes: Uint8Array | undefined
    if (isManifest(expected.mediaType)) {
      bytes = content instanceof Uint8Array ? content : await readAll(content, expected)
    }
    if (await this.exists(expected)) {
      if (content instanceof Readable) content.destroy()
      if (bytes) verifyBytes(bytes, expected)
    } else {
      await this.writeBlob(expected, bytes ?? content)
    }
    if (bytes) await this.indexReferrer(expected, bytes)
  }

  private async writeBlob(expected: Descriptor, content: Readable | Uint8Array): Promise<void> {
    const tmp = join(this.blobDir, `${TEMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`)
    let out: WriteStream | undefined
    try {
      if (content instanceof Uint8Array) {
        verifyBytes(content, expected)
        const fh = await open(tmp, 'wx', 0o644)
        try {
          await fh.writeFile(content)
          await fh.sync()
        } finally {
          await fh.close()
        }
      } else {
        out = createWriteStream(tmp, {flags: 'wx', mode: 0o644})
        // Content already verified on its way here (a fetch from another store) is not hashed twice.
        if (alreadyVerified(content, expected)) await pipeline(content, out)
        else await pipeline(content, new VerifyStream(expected), out)
        const fh = await open(tmp, 'r+')
        try {
          await fh.sync()
        } finally {
          await fh.close()
        }
      }
      await rename(tmp, this.blobPath(expected.digest))
    } catch (err) {
      // A stream that failed before the file was open still opens (and creates) it, then closes:
      // remove the file only once the stream is closed, or it outlives the rm.
      if (out && !out.closed) await once(out, 'close').catch(() => undefined)
      await rm(tmp, {force: true})
      throw diskError(err, this.blobPath(expected.digest))
    }
  }

  /** A manifest with a `subject` is listed (untagged) in index.json so referrers() and gc find it. */
  private async indexReferrer(desc: Descriptor, bytes: Uint8Array): Promise<void> {
    const m = parseManifest(bytes, desc.digest)
    if (!m.subject) return
    const entry = referrerDescriptor({mediaType: desc.mediaType, digest: desc.digest, size: desc.size}, m)
    await this.updateIndex(async (index) => {
      if (index.manifests.some((d) => d.digest === desc.digest && refName(d) === undefined)) return index
      index.manifests.push(entry)
      return index
    })
  }

  // ---- Resolver / Tagger --------------------------------------------------------------------

  async resolve(reference: string): Promise<Descriptor> {
    const digest = digestOf(reference)
    const index = await this.readIndex()
    if (digest !== undefined) {
      const listed = index.manifests.find((d) => d.digest === digest)
      if (listed) return plain(listed)
      if (!(await this.exists({digest}))) throw new NotFoundError(`${reference}: not in the store ${this.dir}`, reference)
      const s = await stat(this.blobPath(digest))
      if (s.size > MAX_METADATA_BYTES) throw new InvalidManifestError(`${reference}: not a manifest`)
      const bytes = await readFile(this.blobPath(digest))
      const m = parseManifest(bytes, reference)
      return {mediaType: manifestMediaType(m), digest, size: bytes.byteLength}
    }
    const found = index.manifests.find((d) => refName(d) === reference)
    if (!found) throw new NotFoundError(`${reference}: no such reference in the store ${this.dir}`, reference)
    return plain(found)
  }

  /**
   * Points `reference` at `desc`. Under the index lock (the one gc holds) it checks that every
   * blob the graph references is here, so a tag never lands on content a concurrent gc removed:
   * a MissingContentError then tells the writer to push again.
   */
  async tag(desc: Descriptor, reference: string): Promise<void> {
    if (reference === '' || isDigest(reference)) throw new RegistryClientError('INVALID_REFERENCE', `cannot tag with ${JSON.stringify(reference)}`)
    if (!(await this.exists(desc))) throw new NotFoundError(`${desc.digest}: not in the store ${this.dir}; push it before tagging`)
    await testPause('tag')
    const entry: Descriptor = {...plain(desc), annotations: {...(desc.annotations ?? {}), [REF_NAME_ANNOTATION]: reference}}
    await this.updateIndex(async (index) => {
      const missing = await this.missing(desc)
      if (missing.length > 0) throw new MissingContentError(reference, missing, `the store ${this.dir}`)
      index.manifests = index.manifests.filter((d) => refName(d) !== reference)
      index.manifests.push(entry)
      return index
    })
  }

  /** The digests under `root` (itself included) that the store does not hold. */
  async missing(root: Descriptor): Promise<string[]> {
    const out: string[] = []
    const seen = new Set<string>()
    const walk = async (d: Descriptor): Promise<void> => {
      if (seen.has(d.digest)) return
      seen.add(d.digest)
      if (!isManifest(d.mediaType)) {
        if (!(await this.exists(d))) out.push(d.digest)
        return
      }
      let bytes: Buffer
      try {
        bytes = await readFile(this.blobPath(d.digest))
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
        out.push(d.digest)
        return
      }
      for (const child of successors(parseManifest(bytes, d.digest))) await walk(child)
    }
    await walk(root)
    return out
  }

  /** Removes a reference; returns the descriptor it pointed at. Content stays until gc(). */
  async untag(reference: string): Promise<Descriptor> {
    let removed: Descriptor | undefined
    await this.updateIndex(async (index) => {
      removed = index.manifests.find((d) => refName(d) === reference)
      index.manifests = index.manifests.filter((d) => refName(d) !== reference)
      return index
    })
    if (!removed) throw new NotFoundError(`${reference}: no such reference in the store ${this.dir}`, reference)
    return plain(removed)
  }

  // ---- Listing ------------------------------------------------------------------------------

  async tags(): Promise<string[]> {
    return (await this.list()).map((r) => r.reference)
  }

  /** Every reference with its descriptor, sorted by reference. */
  async list(): Promise<StoredReference[]> {
    const index = await this.readIndex()
    const out: StoredReference[] = []
    for (const d of index.manifests) {
      const reference = refName(d)
      if (reference !== undefined) out.push({reference, descriptor: plain(d)})
    }
    return out.sort((a, b) => compare(a.reference, b.reference))
  }

  async referrers(subject: Pick<Descriptor, 'digest'>, artifactType?: string): Promise<Descriptor[]> {
    const index = await this.readIndex()
    const seen = new Set<string>()
    const out: Descriptor[] = []
    for (const d of index.manifests) {
      if (seen.has(d.digest) || d.mediaType === MediaType.OciIndex) continue
      seen.add(d.digest)
      let bytes: Buffer
      try {
        bytes = await readFile(this.blobPath(d.digest))
      } catch {
        continue
      }
      const m = parseManifest(bytes, d.digest)
      if (m.subject?.digest !== subject.digest) continue
      const r = referrerDescriptor(plain(d), m)
      if (artifactType === undefined || r.artifactType === artifactType) out.push(r)
    }
    return out.sort((a, b) => compare(a.digest, b.digest))
  }

  // ---- Deleting -----------------------------------------------------------------------------

  /** Removes content and every reference to it. */
  async delete(desc: Pick<Descriptor, 'digest'>): Promise<void> {
    await this.updateIndex(async (index) => {
      index.manifests = index.manifests.filter((d) => d.digest !== desc.digest)
      return index
    })
    try {
      await rm(this.blobPath(desc.digest))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`${desc.digest}: not in the store ${this.dir}`)
      throw err
    }
  }

  /**
   * Deletes every blob no reference reaches: from each tagged manifest down through index
   * children, configs and layers, plus referrers whose subject is reachable. Referrer entries
   * whose subject is gone leave index.json.
   */
  async gc(opts: GcOptions = {}): Promise<GcResult> {
    const graceMs = opts.graceMs ?? 0
    const collect = new Set(opts.collect ?? [])
    return withLock(this.indexPath + '.lock', async () => {
      const index = await this.readIndex()
      const untag = new Set(opts.untag ?? [])
      const untagged = [...new Set(index.manifests.map(refName).filter((r): r is string => r !== undefined && untag.has(r)))]
      if (untagged.length > 0) {
        index.manifests = index.manifests.filter((d) => !untag.has(refName(d) ?? ''))
        await this.writeIndex(index)
      }
      const reachable = new Set<string>()
      const walk = async (d: Descriptor): Promise<void> => {
        if (reachable.has(d.digest)) return
        reachable.add(d.digest)
        if (!isManifest(d.mediaType)) return
        let bytes: Buffer
        try {
          bytes = await readFile(this.blobPath(d.digest))
        } catch {
          return
        }
        let m
        try {
          m = parseManifest(bytes, d.digest)
        } catch {
          return
        }
        for (const child of successors(m)) await walk(child)
      }
      for (const d of index.manifests) if (refName(d) !== undefined) await walk(d)
      // Referrers: kept while their subject is reachable (a referrer of a referrer too).
      let pending = index.manifests.filter((d) => refName(d) === undefined)
      const subjects = new Map<string, string | undefined>()
      for (const d of pending) {
        try {
          subjects.set(d.digest, parseManifest(await readFile(this.blobPath(d.digest)), d.digest).subject?.digest)
        } catch {
          subjects.set(d.digest, undefined)
        }
      }
      let progressed = true
      while (progressed) {
        progressed = false
        const next: Descriptor[] = []
        for (const d of pending) {
          const s = subjects.get(d.digest)
          if (s !== undefined && reachable.has(s)) {
            await walk(d)
            progressed = true
          } else {
            next.push(d)
          }
        }
        pending = next
      }
      const dropped = new Set(pending.map((d) => d.digest))
      if (dropped.size > 0) {
        index.manifests = index.manifests.filter((d) => refName(d) !== undefined || !dropped.has(d.digest))
        await this.writeIndex(index)
      }
      const removed: string[] = []
      let bytesFreed = 0
      const now = Date.now()
      for (const name of await readdir(this.blobDir)) {
        const path = join(this.blobDir, name)
        if (name.startsWith(TEMP_PREFIX)) {
          const s = await stat(path).catch(() => undefined)
          if (s && (now - s.mtimeMs > STALE_TEMP_MS || tempOfDeadWriter(name))) await rm(path, {force: true})
          continue
        }
        const digest = 'sha256:' + name
        if (!isDigest(digest) || reachable.has(digest)) continue
        const s = await stat(path).catch(() => undefined)
        if (!s || (!collect.has(digest) && now - s.mtimeMs < graceMs)) continue
        await rm(path, {force: true})
        removed.push(digest)
        bytesFreed += s.size
      }
      return {removed: removed.sort(), bytesFreed, untagged: untagged.sort()}
    })
  }

  // ---- index.json ---------------------------------------------------------------------------

  private async readIndex(): Promise<IndexFile> {
    let text: string
    try {
      text = await readFile(this.indexPath, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyIndex()
      throw err
    }
    let index: IndexFile
    try {
      index = JSON.parse(text) as IndexFile
    } catch (err) {
      throw new RegistryClientError('INVALID_LAYOUT', `${this.indexPath}: not valid JSON: ${(err as Error).message}`)
    }
    if (index === null || typeof index !== 'object' || Array.isArray(index)) {
      throw new RegistryClientError('INVALID_LAYOUT', `${this.indexPath}: not an OCI index (${index === null ? 'null' : Array.isArray(index) ? 'an array' : typeof index}); move it aside and rebuild or pull again`)
    }
    if (!Array.isArray(index.manifests)) index.manifests = []
    if (index.manifests.some((d) => d === null || typeof d !== 'object' || typeof d.digest !== 'string')) {
      throw new RegistryClientError('INVALID_LAYOUT', `${this.indexPath}: an entry of manifests is not a descriptor`)
    }
    return index
  }

  private async writeIndex(index: IndexFile): Promise<void> {
    index.manifests.sort((a, b) => {
      const ra = refName(a)
      const rb = refName(b)
      if (ra !== undefined && rb !== undefined) return compare(ra, rb)
      if (ra !== undefined) return -1
      if (rb !== undefined) return 1
      return compare(a.digest, b.digest)
    })
    const out: IndexFile = {schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: index.manifests}
    if (index.annotations) out.annotations = index.annotations
    await atomicWrite(this.indexPath, JSON.stringify(out, null, 2) + '\n')
  }

  private async updateIndex(fn: (index: IndexFile) => Promise<IndexFile>): Promise<void> {
    await withLock(this.indexPath + '.lock', async () => {
      await this.writeIndex(await fn(await this.readIndex()))
    })
  }
}

/** `.tmp-PID-HEX`: true when PID is no live process (its writer was killed). */
function tempOfDeadWriter(name: string): boolean {
  const m = /^\.tmp-(\d+)-/.exec(name)
  if (!m) return false
  const pid = Number(m[1])
  if (pid === process.pid) return false
  try {
    process.kill(pid, 0)
    return false
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

/** ENOSPC/EDQUOT/EROFS as one line that names the file being written. */
export function diskError(err: unknown, path: string): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (code === 'ENOSPC' || code === 'EDQUOT') return new RegistryClientError('DISK_FULL', `${path}: no space left on the device (${code}); free some space (kit rm) and try again`, {cause: err})
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return new RegistryClientError('NOT_WRITABLE', `${path}: cannot write (${code})`, {cause: err})
  return err
}

function emptyIndex(): IndexFile {
  return {schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: []}
}

function refName(d: Descriptor): string | undefined {
  return d.annotations?.[REF_NAME_ANNOTATION]
}

/** A descriptor without the ref.name annotation (what callers see). */
function plain(d: Descriptor): Descriptor {
  const out: Descriptor = {...d}
  if (out.annotations) {
    const {[REF_NAME_ANNOTATION]: _ignored, ...rest} = out.annotations
    if (Object.keys(rest).length > 0) out.annotations = rest
    else delete out.annotations
  }
  return out
}

/** "sha256:..." or "name@sha256:..." → the digest; anything else → undefined. */
function digestOf(reference: string): string | undefined {
  const at = reference.lastIndexOf('@')
  const candidate = at >= 0 ? reference.slice(at + 1) : reference
  return isDigest(candidate) ? candidate : undefined
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

export {atomicWrite}
