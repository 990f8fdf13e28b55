// Where blobs were last seen on each registry: registry → digest → repository, a small JSON file
// kept beside the local store. push() asks it for a repository of the same registry to mount a blob
// from (OCI distribution cross-repository mount) before uploading it; a registry that answers the
// mount with 202 (no such blob there any more) gets the upload. push and pull record what they
// moved. The record is a hint: lost updates between concurrent runs only cost an upload.
import {mkdir, readFile} from 'node:fs/promises'
import {dirname} from 'node:path'
import {atomicWrite} from './atomic.js'
import type {Descriptor} from './descriptor.js'

/** Digests kept per registry (the oldest are dropped first). */
const MAX_PER_REGISTRY = 10_000

interface RecordFile {
  version: 1
  registries: Record<string, Record<string, string>>
}

export class BlobSources {
  private constructor(
    readonly path: string,
    private data: RecordFile,
  ) {}

  static async open(path: string): Promise<BlobSources> {
    let data: RecordFile = {version: 1, registries: {}}
    try {
      const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<RecordFile>
      if (parsed.version === 1 && parsed.registries && typeof parsed.registries === 'object') data = parsed as RecordFile
    } catch {
      // Missing or unreadable: start empty (it is only a hint).
    }
    return new BlobSources(path, data)
  }

  /** A repository of `registry` that had `digest`, other than `except`. */
  repositoryOf(registry: string, digest: string, except?: string): string | undefined {
    const repo = this.data.registries[registry]?.[digest]
    return repo !== undefined && repo !== except ? repo : undefined
  }

  /** Records that `repository` of `registry` has these blobs, and saves the file. */
  async record(registry: string, repository: string, blobs: Array<Pick<Descriptor, 'digest'>>): Promise<void> {
    if (blobs.length === 0) return
    // Re-read first: another run may have recorded since this one opened the file.
    const fresh = await BlobSources.open(this.path)
    this.data = fresh.data
    const entries = {...(this.data.registries[registry] ?? {})}
    for (const b of blobs) {
      delete entries[b.digest]
      entries[b.digest] = repository
    }
    const keys = Object.keys(entries)
    for (const k of keys.slice(0, Math.max(0, keys.length - MAX_PER_REGISTRY))) delete entries[k]
    this.data.registries[registry] = entries
    // A record that cannot be written only costs uploads later: it never fails a push or pull.
    await mkdir(dirname(this.path), {recursive: true})
      .then(() => atomicWrite(this.path, JSON.stringify(this.data) + '\n'))
      .catch(() => undefined)
  }
}
