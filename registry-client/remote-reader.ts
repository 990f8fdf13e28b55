// Reading one artifact on a registry the way the local store is read (resolve, fetch, fetchBytes),
// for `kit inspect REMOTE-REF`: the manifest and config come from the registry and nothing is
// written to the store.
import type {Readable} from 'node:stream'
import {type Descriptor, isDigest} from './descriptor.js'
import type {RemoteRepository} from './remote.js'
import {MAX_METADATA_BYTES, readAll} from './verify.js'

export class RemoteReader {
  constructor(
    private readonly repository: RemoteRepository,
    /** What any name other than a digest resolves to (the reference already resolved). */
    private readonly root: Descriptor,
  ) {}

  async resolve(reference: string): Promise<Descriptor> {
    if (isDigest(reference) && reference !== this.root.digest) return this.repository.resolve(reference)
    return this.root
  }

  fetch(desc: Descriptor): Promise<Readable> {
    return this.repository.fetch(desc)
  }

  async fetchBytes(desc: Descriptor, maxBytes = MAX_METADATA_BYTES): Promise<Buffer> {
    return readAll(await this.repository.fetch(desc), desc, maxBytes)
  }
}
