// The capability interfaces every content store implements, after oras-go's content package:
// small interfaces composed into Target. The local OCI-layout store, the in-memory store and a
// remote repository all implement Target; push, pull and registry-to-registry copy are one graph
// copy between two targets (copy.ts).
import type {Readable} from 'node:stream'
import type {Descriptor} from './descriptor.js'

/** Fetches content by descriptor. The stream errors if size or digest do not match `desc`. */
export interface Fetcher {
  fetch(desc: Descriptor): Promise<Readable>
}

/** Pushes content that must match `expected` (size and digest); on mismatch nothing is stored. */
export interface Pusher {
  push(expected: Descriptor, content: Readable | Uint8Array): Promise<void>
}

export interface ReadOnlyStorage extends Fetcher {
  exists(desc: Descriptor): Promise<boolean>
}

export interface Storage extends ReadOnlyStorage, Pusher {}

/** Resolves a reference (a tag, or a digest) to the descriptor of a manifest. */
export interface Resolver {
  resolve(reference: string): Promise<Descriptor>
}

/** Points a reference (tag) at a manifest already in the target. */
export interface Tagger {
  tag(desc: Descriptor, reference: string): Promise<void>
}

export interface TagLister {
  /** All tags, in the order the target gives them (registries: lexical, paginated). */
  tags(): Promise<string[]>
}

/** Lists manifests whose `subject` is `subject` (OCI referrers), optionally by artifactType. */
export interface ReferrerLister {
  referrers(subject: Descriptor, artifactType?: string): Promise<Descriptor[]>
}

/** Removes a reference (untag) or content by descriptor. */
export interface Deleter {
  delete(desc: Descriptor): Promise<void>
}

export interface ReadOnlyTarget extends ReadOnlyStorage, Resolver {}

export interface Target extends Storage, Resolver, Tagger {}

/** Pushes a manifest and points `reference` at it in one request (registries: PUT by tag). */
export interface ReferencePusher {
  pushReference(expected: Descriptor, content: Readable | Uint8Array, reference: string): Promise<void>
}

/** Lists every reference a store holds, with its descriptor (local stores). */
export interface ReferenceLister {
  list(): Promise<Array<{reference: string; descriptor: Descriptor}>>
}

/** Progress of a copy, for a progress bar (never printed in --json or CI). */
export type ProgressEvent =
  | {type: 'skip'; descriptor: Descriptor}
  | {type: 'start'; descriptor: Descriptor}
  | {type: 'progress'; descriptor: Descriptor; bytes: number}
  | {type: 'done'; descriptor: Descriptor; bytes: number}
  | {type: 'mount'; descriptor: Descriptor; from: string}

/** Mounts a blob from another repository of the same registry (no bytes uploaded). */
export interface Mounter {
  /** True when the registry mounted it; false when the caller must upload it. */
  mount(desc: Descriptor, fromRepository: string): Promise<boolean>
}
