// Reading kit artifacts back from the local store: the manifest, the config (the spec bytes as
// authored, normalised on demand), the one layer's file list; and what the CLI does with the store
// (list, inspect, remove). Every read goes through the store's verifying fetch.
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {Readable} from 'node:stream'
import {createGunzip} from 'node:zlib'
import tar from 'tar-stream'
import {type Descriptor, isDigest, isManifest, MediaType} from '../registry-client/descriptor.js'
import {NotFoundError} from '../registry-client/errors.js'
import type {GcResult, OciLayoutStore} from '../registry-client/layout-store.js'
import {type ManifestLike, parseManifest, successors} from '../registry-client/manifest.js'
import type {Fetcher} from '../registry-client/target.js'
import {KitValidationError, type Diagnostic} from './diagnostics.js'
import {Annotation, ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, type KitSpec} from './model.js'

/** A reference in the store that is not a kit artifact (or not a well-formed one). */
export class NotAKitError extends Error {
  readonly code = 'E_NOT_A_KIT'
  constructor(
    readonly reference: string,
    reason: string,
  ) {
    super(`${reference} is not a kit: ${reason}`)
    this.name = 'NotAKitError'
  }
}

export interface KitArtifact {
  reference: string
  descriptor: Descriptor
  manifest: ManifestLike
  manifestBytes: Buffer
  config: Descriptor
  /** The spec.yaml bytes exactly as authored. */
  specBytes: Buffer
  layer: Descriptor
  annotations: Record<string, string>
}

export interface LayerFile {
  path: string
  type: 'file' | 'directory' | string
  mode: number
  size: number
}

/**
 * The store's name for what a user typed: a digest (`sha256:…`, `name@sha256:…`) stays a digest,
 * `name` means `name:latest`, `name:tag` is kept.
 */
export function storeRef(input: string): string {
  const at = input.lastIndexOf('@')
  if (at >= 0 && isDigest(input.slice(at + 1))) return input.slice(at + 1)
  if (isDigest(input)) return input
  const colon = input.lastIndexOf(':')
  return colon > input.lastIndexOf('/') ? input : `${input}:latest`
}

/** The tag part of a reference (`1.2.3` of `my-mixin:1.2.3`), or undefined for a digest. */
export function tagOf(reference: string): string | undefined {
  if (isDigest(reference)) return undefined
  const colon = reference.lastIndexOf(':')
  return colon > reference.lastIndexOf('/') ? reference.slice(colon + 1) : 'latest'
}

/** True when a manifest has the kit's shape (artifactType, or the config type when a registry dropped it). */
export function isKitManifest(m: ManifestLike): boolean {
  return m.artifactType === ARTIFACT_TYPE || m.config?.mediaType === CONFIG_MEDIA_TYPE
}

/** Reads and checks the kit artifact `reference` points at (verified against its digests). */
export async function readKitArtifact(store: OciLayoutStore, reference: string): Promise<KitArtifact> {
  const ref = storeRef(reference)
  const descriptor = await store.resolve(ref)
  if (descriptor.mediaType !== MediaType.OciManifest) throw new NotAKitError(reference, `its manifest is ${descriptor.mediaType}`)
  const manifestBytes = await store.fetchBytes(descriptor)
  const manifest = parseManifest(manifestBytes, reference)
  if (!isKitManifest(manifest)) {
    throw new NotAKitError(reference, `artifactType is ${JSON.stringify(manifest.artifactType ?? manifest.config?.mediaType ?? null)}`)
  }
  const config = manifest.config
  if (!config) throw new NotAKitError(reference, 'the manifest has no config')
  const layers = manifest.layers ?? []
  if (layers.length !== 1) throw new NotAKitError(reference, `a kit has exactly one layer, this has ${layers.length}`)
  const layer = layers[0]!
  if (layer.mediaType !== MediaType.OciLayerTarGzip) throw new NotAKitError(reference, `its layer is ${layer.mediaType}, not ${MediaType.OciLayerTarGzip}`)
  const specBytes = await store.fetchBytes(config)
  return {
    reference: ref,
    descriptor: {...descriptor, artifactType: manifest.artifactType ?? ARTIFACT_TYPE},
    manifest,
    manifestBytes,
    config,
    specBytes,
    layer,
    annotations: manifest.annotations ?? {},
  }
}

/**
 * The entries of a tar+gzip stream, in order (tar-stream's extract). Each entry's content must be
 * read or `resume()`d before the next one comes; errors of the source end the iteration.
 */
export function tarGzEntries(source: Readable): tar.Extract {
  const extract = tar.extract()
  const gunzip = createGunzip()
  source.on('error', (err) => gunzip.destroy(err))
  gunzip.on('error', (err) => extract.destroy(err))
  source.pipe(gunzip).pipe(extract as unknown as NodeJS.WritableStream)
  return extract
}

/** The entries of a kit layer in any store or registry (streamed and verified; contents are not kept). */
export async function listLayerFiles(target: Fetcher, layer: Descriptor): Promise<LayerFile[]> {
  const files: LayerFile[] = []
  for await (const entry of tarGzEntries(await target.fetch(layer))) {
    const h = entry.header
    files.push({path: h.name.replace(/\/$/, ''), type: h.type ?? 'file', mode: h.mode ?? 0, size: h.size ?? 0})
    entry.resume()
  }
  return files
}

/** Parses and normalises spec bytes read from an artifact (the same loader as `kit validate`). */
export async function normaliseSpecBytes(specBytes: Buffer, shownAs: string): Promise<{spec: KitSpec; warnings: Diagnostic[]}> {
  const dir = await mkdtemp(join(tmpdir(), 'kit-spec-'))
  try {
    await writeFile(join(dir, 'spec.yaml'), specBytes)
    // Imported here: the loader compiles the JSON Schemas, which `kit ls`/`rm`/`export` never need.
    const {validateKit} = await import('./load.js')
    const result = await validateKit(dir, {checkFileContents: false})
    const rename = (d: Diagnostic): Diagnostic => ({...d, file: d.file.endsWith('spec.yaml') ? shownAs : d.file})
    if (!result.valid || !result.kit) throw new KitValidationError(result.diagnostics.map(rename))
    return {spec: result.kit.spec, warnings: result.kit.warnings.map(rename)}
  } finally {
    await rm(dir, {recursive: true, force: true})
  }
}

export interface StoredItem {
  reference: string
  /** `sandbox` or `mixin` for kits; `image` or the artifactType for anything else. */
  kind: string
  name?: string
  version?: string
  digest: string
  /** Manifest, config and layers, in bytes. */
  size: number
  created?: string
}

/** Everything the local store holds under a reference, sorted by reference. */
export async function listStore(store: OciLayoutStore): Promise<StoredItem[]> {
  const out: StoredItem[] = []
  for (const {reference, descriptor} of await store.list()) {
    const item: StoredItem = {reference, kind: 'unknown', digest: descriptor.digest, size: descriptor.size}
    try {
      const m = parseManifest(await store.fetchBytes(descriptor), reference)
      const a = m.annotations ?? {}
      item.size += (m.config?.size ?? 0) + (m.layers ?? []).reduce((n, d) => n + d.size, 0)
      if (isKitManifest(m)) {
        item.kind = a[Annotation.Kind] ?? 'kit'
        item.name = a[Annotation.Name]
        if (a[Annotation.Version]) item.version = a[Annotation.Version]
      } else {
        item.kind = m.artifactType ?? (m.manifests ? 'image-index' : 'image')
      }
      if (a[Annotation.Created]) item.created = a[Annotation.Created]
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err
      item.kind = 'missing'
    }
    out.push(item)
  }
  return out
}

export interface KitInspection {
  reference: string
  digest: string
  size: number
  mediaType: string
  artifactType: string
  manifest: ManifestLike
  annotations: Record<string, string>
  config: Descriptor
  layer: Descriptor
  /** The normalised (v2) spec. */
  spec: KitSpec
  /** The spec as authored (the config blob). */
  specText: string
  files: LayerFile[]
}

export async function inspectKit(store: OciLayoutStore, reference: string): Promise<KitInspection> {
  const art = await readKitArtifact(store, reference)
  const {spec} = await normaliseSpecBytes(art.specBytes, `${art.reference} (config ${art.config.digest})`)
  const files = await listLayerFiles(store, art.layer)
  return {
    reference: art.reference,
    digest: art.descriptor.digest,
    size: art.descriptor.size,
    mediaType: art.descriptor.mediaType,
    artifactType: art.manifest.artifactType ?? ARTIFACT_TYPE,
    manifest: art.manifest,
    annotations: art.annotations,
    config: art.config,
    layer: art.layer,
    spec,
    specText: art.specBytes.toString('utf8'),
    files,
  }
}

export interface RemoveResult {
  /** The references removed. */
  removed: string[]
  digest: string
  /** Blobs deleted: the removed artifact's own (when nothing else uses them) and older garbage. */
  blobsRemoved: number
  bytesFreed: number
}

/** Unreferenced blobs younger than this are left to a later gc: another process may be building. */
export const GC_GRACE_MS = 10 * 60 * 1000

/**
 * Untags `reference` (for a digest: every reference to it), deletes the removed artifact's blobs
 * that no remaining reference reaches, then collects older unreferenced blobs. Blobs that are
 * neither (a concurrent build's, not yet tagged) are kept for GC_GRACE_MS.
 */
export async function removeFromStore(store: OciLayoutStore, reference: string): Promise<RemoveResult> {
  const ref = storeRef(reference)
  let removed: string[]
  let root: Descriptor
  if (isDigest(ref)) {
    const refs = (await store.list()).filter((r) => r.descriptor.digest === ref)
    if (refs.length === 0) throw new NotFoundError(`${reference}: no reference to it in the store ${store.dir}`, reference)
    removed = refs.map((r) => r.reference)
    root = refs[0]!.descriptor
  } else {
    root = await store.resolve(ref)
    removed = [ref]
  }
  const own = await graphOf(store, root)
  // One decision under the index lock: untag, find what the remaining references reach, delete
  // the rest. A writer tags under the same lock and re-checks its blobs there (store.tag).
  const gc: GcResult = await store.gc({graceMs: GC_GRACE_MS, untag: removed, collect: own.map((d) => d.digest)})
  if (gc.untagged.length === 0) throw new NotFoundError(`${reference}: no such reference in the store ${store.dir}`, reference)
  return {removed: gc.untagged, digest: root.digest, blobsRemoved: gc.removed.length, bytesFreed: gc.bytesFreed}
}

/** A manifest (or index) and everything under it that the store holds. */
async function graphOf(store: OciLayoutStore, root: Descriptor): Promise<Descriptor[]> {
  const out: Descriptor[] = []
  const seen = new Set<string>()
  const walk = async (d: Descriptor): Promise<void> => {
    if (seen.has(d.digest)) return
    seen.add(d.digest)
    out.push(d)
    if (!isManifest(d.mediaType)) return
    let m: ManifestLike
    try {
      m = parseManifest(await store.fetchBytes(d), d.digest)
    } catch (err) {
      if (err instanceof NotFoundError) return
      throw err
    }
    for (const child of successors(m)) await walk(child)
  }
  await walk(root)
  return out
}
