// An in-memory Target for tests and for staging small graphs: content by digest, tags by name.
import type {Readable} from 'node:stream'
import {type Descriptor, isDigest, isManifest} from './descriptor.js'
import {NotFoundError} from './errors.js'
import {manifestMediaType, parseManifest, referrerDescriptor} from './manifest.js'
import type {Deleter, ReferenceLister, ReferrerLister, TagLister, Target} from './target.js'
import {fromBytes, readAll, verifyBytes} from './verify.js'

export class MemoryStore implements Target, TagLister, ReferrerLister, Deleter, ReferenceLister {
  private readonly blobs = new Map<string, {desc: Descriptor; data: Buffer}>()
  private readonly refs = new Map<string, Descriptor>()

  async exists(desc: Pick<Descriptor, 'digest'>): Promise<boolean> {
    return this.blobs.has(desc.digest)
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    const found = this.blobs.get(desc.digest)
    if (!found) throw new NotFoundError(`${desc.digest}: not found`)
    verifyBytes(found.data, desc)
    return fromBytes(found.data)
  }

  async push(expected: Descriptor, content: Readable | Uint8Array): Promise<void> {
    const data = content instanceof Uint8Array ? Buffer.from(content) : await readAll(content, expected, Infinity)
    verifyBytes(data, expected)
    if (!this.blobs.has(expected.digest)) {
      this.blobs.set(expected.digest, {desc: {mediaType: expected.mediaType, digest: expected.digest, size: expected.size}, data})
    }
  }

  async resolve(reference: string): Promise<Descriptor> {
    const at = reference.lastIndexOf('@')
    const digest = at >= 0 ? reference.slice(at + 1) : reference
    if (isDigest(digest)) {
      const found = this.blobs.get(digest)
      if (!found) throw new NotFoundError(`${reference}: not found`, reference)
      const mediaType = isManifest(found.desc.mediaType) ? found.desc.mediaType : manifestMediaType(parseManifest(found.data))
      return {mediaType, digest, size: found.data.byteLength}
    }
    const desc = this.refs.get(reference)
    if (!desc) throw new NotFoundError(`${reference}: not found`, reference)
    return {...desc}
  }

  async tag(desc: Descriptor, reference: string): Promise<void> {
    if (!this.blobs.has(desc.digest)) throw new NotFoundError(`${desc.digest}: not found; push it before tagging`)
    this.refs.set(reference, {mediaType: desc.mediaType, digest: desc.digest, size: desc.size})
  }

  async tags(): Promise<string[]> {
    return [...this.refs.keys()].sort()
  }

  async list(): Promise<Array<{reference: string; descriptor: Descriptor}>> {
    return [...this.refs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([reference, descriptor]) => ({reference, descriptor: {...descriptor}}))
  }

  async referrers(subject: Pick<Descriptor, 'digest'>, artifactType?: string): Promise<Descriptor[]> {
    const out: Descriptor[] = []
    for (const {desc, data} of this.blobs.values()) {
      if (!isManifest(desc.mediaType)) continue
      const m = parseManifest(data)
      if (m.subject?.digest !== subject.digest) continue
      const r = referrerDescriptor(desc, m)
      if (artifactType === undefined || r.artifactType === artifactType) out.push(r)
    }
    return out.sort((a, b) => (a.digest < b.digest ? -1 : 1))
  }

  async delete(desc: Pick<Descriptor, 'digest'>): Promise<void> {
    if (!this.blobs.delete(desc.digest)) throw new NotFoundError(`${desc.digest}: not found`)
    for (const [ref, d] of this.refs) if (d.digest === desc.digest) this.refs.delete(ref)
  }

  /** Test helper: the raw bytes of a blob. */
  get(digest: string): Buffer | undefined {
    return this.blobs.get(digest)?.data
  }
}
