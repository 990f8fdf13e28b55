// Reading kit artifacts back from the local store: the manifest, the config (the spec bytes as
// authored, normalised on demand), the one layer's file list; and what the CLI does with the store
// (list, inspect, remove). Every read goes through the store's verifying fetch.
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {Readable} from 'node:stream'
import {createGunzip} from 'node:zlib'
import tar from 'tar-stream'
import yauzl from 'yauzl'
import {type Descriptor, isDigest, isManifest, MediaType} from '../registry-client/descriptor.js'
import {NotFoundError} from '../registry-client/errors.js'
import type {GcResult, OciLayoutStore} from '../registry-client/layout-store.js'
import {type ManifestLike, parseManifest, successors} from '../registry-client/manifest.js'
import type {Fetcher} from '../registry-client/target.js'
import {readAll} from '../registry-client/verify.js'
import {KitValidationError, type Diagnostic} from './diagnostics.js'
import {Annotation, ARTIFACT_TYPE, ARTIFACT_TYPE_V1, CONFIG_MEDIA_TYPE, type KitSpec, V1_ZIP_MEDIA_TYPE} from './model.js'
import {isV3Manifest, V3Annotation} from './v3/descriptor.js'

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
  /** The layer holding the files: the one tar+gzip layer (v2), or the ZIP (sbx's v1 artifact). */
  layer: Descriptor
  /** `v2`: sbx's OCI-v2 layout; `v1-zip`: sbx's legacy v1 artifact (spec.yaml and files/ in one ZIP layer). */
  format: KitFormat
  annotations: Record<string, string>
}

export type KitFormat = 'v2' | 'v1-zip'

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

/**
 * True when a manifest has a kit's shape: sbx's v2 artifactType, or (a registry dropped it) the v2
 * config media type; or sbx's legacy v1 artifact, recognised by its ZIP layer (OCI-v2.md §8).
 */
export function isKitManifest(m: ManifestLike): boolean {
  if (m.artifactType === ARTIFACT_TYPE || m.config?.mediaType === CONFIG_MEDIA_TYPE) return true
  return (m.artifactType === undefined || m.artifactType === ARTIFACT_TYPE_V1) && (m.layers ?? []).some((l) => l.mediaType === V1_ZIP_MEDIA_TYPE)
}

/**
 * Which layer holds a kit's files, as sbx's consumer picks it: layers of media types it does not
 * know (signatures, attestations) are ignored; a v2 kit has exactly one tar+gzip layer, a v1 kit
 * exactly one ZIP layer.
 */
export function kitLayer(m: ManifestLike, reference: string): {format: KitFormat; layer: Descriptor} {
  const layers = m.layers ?? []
  const v2 = m.artifactType === ARTIFACT_TYPE || m.config?.mediaType === CONFIG_MEDIA_TYPE
  const wanted = v2 ? MediaType.OciLayerTarGzip : V1_ZIP_MEDIA_TYPE
  const found = layers.filter((l) => l.mediaType === wanted)
  if (found.length !== 1) {
    throw new NotAKitError(reference, `a ${v2 ? 'v2' : 'v1'} kit has exactly one ${wanted} layer, this has ${found.length} (of ${layers.length} layers)`)
  }
  return {format: v2 ? 'v2' : 'v1-zip', layer: found[0]!}
}

/** The biggest v1 ZIP layer read (held in memory: kits are small). */
export const MAX_ZIP_LAYER_BYTES = 256 * 1024 * 1024

export interface ZipKitEntry {
  /** The layer path kit uses for files: `home/agent/<rel>` or `workspace/<rel>`. */
  path: string
  type: 'file' | 'directory'
  mode: number
  data?: Buffer
}

/**
 * The contents of a v1 kit ZIP (sbx's legacy artifact: the kit directory zipped, spec.yaml at the
 * root, files/home and files/workspace beside it; a single top-level folder holding them is
 * accepted too). Entries are checked as a layer's are: relative, normalised, regular files and
 * directories only; anything outside files/home and files/workspace is ignored.
 */
export async function readZipKit(zip: Buffer, reference: string): Promise<{specBytes: Buffer; entries: ZipKitEntry[]}> {
  const bad = (why: string) => new NotAKitError(reference, `its v1 ZIP layer ${why}`)
  const raw = await new Promise<Array<{name: string; dir: boolean; mode: number; data?: Buffer}>>((resolveAll, reject) => {
    yauzl.fromBuffer(zip, {lazyEntries: true, strictFileNames: true, validateEntrySizes: true}, (err, zf) => {
      if (err || !zf) return reject(bad(`is not a readable ZIP (${err?.message ?? 'no archive'})`))
      const out: Array<{name: string; dir: boolean; mode: number; data?: Buffer}> = []
      zf.on('error', (e: Error) => reject(bad(`is not a readable ZIP (${e.message})`)))
      zf.on('end', () => resolveAll(out))
      zf.on('entry', (entry: yauzl.Entry) => {
        const unixMode = (entry.externalFileAttributes >>> 16) & 0xffff
        const fileType = unixMode & 0o170000
        const dir = entry.fileName.endsWith('/')
        if (fileType !== 0 && fileType !== 0o100000 && fileType !== 0o040000) {
          zf.close()
          return reject(bad(`holds ${entry.fileName}, which is not a regular file or a directory`))
        }
        if (dir) {
          out.push({name: entry.fileName.replace(/\/$/, ''), dir, mode: unixMode & 0o777})
          return zf.readEntry()
        }
        zf.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(bad(`entry ${entry.fileName}: ${e?.message ?? 'unreadable'}`))
          const chunks: Buffer[] = []
          stream.on('data', (c: Buffer) => chunks.push(c))
          stream.on('error', (se: Error) => reject(bad(`entry ${entry.fileName}: ${se.message}`)))
          stream.on('end', () => {
            out.push({name: entry.fileName, dir, mode: unixMode & 0o777, data: Buffer.concat(chunks)})
            zf.readEntry()
          })
        })
      })
      zf.readEntry()
    })
  })
  for (const e of raw) {
    const segments = e.name.split('/')
    if (e.name.startsWith('/') || segments.some((x) => x === '..' || x === '.' || x === '')) throw bad(`holds ${JSON.stringify(e.name)}, which is not a relative, normalised path`)
  }
  // spec.yaml at the root, or in the one top-level folder that holds everything.
  let prefix = ''
  const spec = (p: string) => raw.find((e) => !e.dir && (e.name === `${p}spec.yaml` || e.name === `${p}spec.yml`))
  if (!spec('')) {
    const tops = new Set(raw.map((e) => e.name.split('/')[0]!))
    if (tops.size === 1) prefix = `${[...tops][0]}/`
  }
  const specEntry = raw.find((e) => !e.dir && e.name === `${prefix}spec.yaml`) ?? spec(prefix)
  if (!specEntry?.data) throw bad('has no spec.yaml at its root')
  const entries: ZipKitEntry[] = []
  for (const e of raw) {
    if (!e.name.startsWith(prefix)) continue
    const rel = e.name.slice(prefix.length)
    let path: string | undefined
    if (rel.startsWith('files/home/')) path = `home/agent/${rel.slice('files/home/'.length)}`
    else if (rel.startsWith('files/workspace/')) path = `workspace/${rel.slice('files/workspace/'.length)}`
    if (path === undefined) continue
    // sbx masks modes and reads 0 as 0644; kit keeps the exec bit as it does for tar layers.
    const mode = e.dir ? 0o755 : e.mode & 0o111 ? 0o755 : 0o644
    entries.push(e.dir ? {path, type: 'directory', mode} : {path, type: 'file', mode, data: e.data})
  }
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  return {specBytes: specEntry.data, entries}
}

/** Reads a v1 ZIP layer (verified) and its contents. */
export async function fetchZipKit(target: Fetcher, layer: Descriptor, reference: string): Promise<{specBytes: Buffer; entries: ZipKitEntry[]}> {
  const zip = await readAll(await target.fetch(layer), layer, MAX_ZIP_LAYER_BYTES)
  return readZipKit(zip, reference)
}

/** What reading one kit needs: the local store, or a registry read in place (RemoteReader). */
export type ArtifactReader = Pick<OciLayoutStore, 'resolve' | 'fetch' | 'fetchBytes'>

/** Reads and checks the kit artifact `reference` points at (verified against its digests). */
export async function readKitArtifact(store: ArtifactReader, reference: string): Promise<KitArtifact> {
  const ref = storeRef(reference)
  const descriptor = await store.resolve(ref)
  if (descriptor.mediaType !== MediaType.OciManifest) throw new NotAKitError(reference, `its manifest is ${descriptor.mediaType}`)
  const manifestBytes = await store.fetchBytes(descriptor)
  const manifest = parseManifest(manifestBytes, reference)
  if (!isKitManifest(manifest)) {
    if (isV3Manifest(manifest)) throw new NotAKitError(reference, 'it is a schema v3 kit (an image with a kit descriptor): kit inspect reads it; kit run and kit export do not take v3 kits yet')
    throw new NotAKitError(reference, `artifactType is ${JSON.stringify(manifest.artifactType ?? manifest.config?.mediaType ?? null)}`)
  }
  const config = manifest.config
  if (!config) throw new NotAKitError(reference, 'the manifest has no config')
  const {format, layer} = kitLayer(manifest, reference)
  // v2: the config is the spec as authored; v1: the config is empty and spec.yaml is in the ZIP.
  const specBytes = format === 'v2' ? await store.fetchBytes(config) : (await fetchZipKit(store, layer, reference)).specBytes
  return {
    reference: ref,
    descriptor: {...descriptor, artifactType: manifest.artifactType ?? (format === 'v2' ? ARTIFACT_TYPE : ARTIFACT_TYPE_V1)},
    manifest,
    manifestBytes,
    config,
    specBytes,
    layer,
    format,
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
  if (layer.mediaType === V1_ZIP_MEDIA_TYPE) {
    const {entries} = await fetchZipKit(target, layer, layer.digest)
    return entries.map((e) => ({path: e.path, type: e.type, mode: e.mode, size: e.data?.length ?? 0}))
  }
  const files: LayerFile[] = []
  for await (const entry of tarGzEntries(await target.fetch(layer))) {
    const h = entry.header
    files.push({path: h.name.replace(/\/$/, ''), type: h.type ?? 'file', mode: h.mode ?? 0, size: h.size ?? 0})
    entry.resume()
  }
  return files
}

/** Parses and normalises spec bytes read from an artifact (the same loader as `kit validate`). */
export async function normaliseSpecBytes(specBytes: Buffer, shownAs: string): Promise<{spec: KitSpec; warnings: Diagnostic[]; schemaVersion: string}> {
  const dir = await mkdtemp(join(tmpdir(), 'kit-spec-'))
  try {
    await writeFile(join(dir, 'spec.yaml'), specBytes)
    // Imported here: the loader compiles the JSON Schemas, which `kit ls`/`rm`/`export` never need.
    const {validateKit} = await import('./load.js')
    const result = await validateKit(dir, {checkFileContents: false})
    const rename = (d: Diagnostic): Diagnostic => ({...d, file: d.file.endsWith('spec.yaml') ? shownAs : d.file})
    if (!result.valid || !result.kit) throw new KitValidationError(result.diagnostics.map(rename))
    return {spec: result.kit.spec, warnings: result.kit.warnings.map(rename), schemaVersion: result.kit.schemaVersion}
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
      } else if (isV3Manifest(m)) {
        item.kind = /"kind":"(\w+)"/.exec(a[V3Annotation.Descriptor] ?? '')?.[1] ?? 'kit'
        if (a['org.opencontainers.image.version']) item.version = a['org.opencontainers.image.version']
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
  /** `v2`, or `v1-zip` (sbx's legacy artifact). */
  format: KitFormat
  /** The schema version of the spec the artifact holds ("1" or "2"). */
  schemaVersion: string
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

/** `files: false`: the layer is not read (a kit on a registry: only its manifest and config). */
export async function inspectKit(store: ArtifactReader, reference: string, opts: {files?: boolean} = {}): Promise<KitInspection> {
  const art = await readKitArtifact(store, reference)
  const {spec, schemaVersion} = await normaliseSpecBytes(art.specBytes, art.format === 'v2' ? `${art.reference} (config ${art.config.digest})` : `${art.reference} (spec.yaml in layer ${art.layer.digest})`)
  const files = opts.files === false ? [] : await listLayerFiles(store, art.layer)
  return {
    reference: art.reference,
    digest: art.descriptor.digest,
    size: art.descriptor.size,
    mediaType: art.descriptor.mediaType,
    artifactType: art.manifest.artifactType ?? (art.format === 'v2' ? ARTIFACT_TYPE : ARTIFACT_TYPE_V1),
    format: art.format,
    schemaVersion,
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
