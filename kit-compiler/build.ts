// Building a kit: load and validate it, write its one layer, and push config (the spec bytes as
// authored), layer and manifest into the local store, then tag. The manifest is the OCI-v2 kit
// layout of kit-format.md §4 and is serialised deterministically, so the same source gives the
// same digest on every machine. Blobs reach the store verified and by rename; the tag is written
// last, so a failed build leaves no reference behind (unreferenced blobs go at the next gc).
import {mkdtemp, readdir, rm, stat} from 'node:fs/promises'
import {createReadStream} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {type Descriptor, MediaType, describe, sha256} from '../registry-client/descriptor.js'
import type {OciLayoutStore} from '../registry-client/layout-store.js'
import {InvalidReferenceError, MissingContentError} from '../registry-client/errors.js'
import type {Diagnostic} from './diagnostics.js'
import {writeLayer} from './layer.js'
import {loadKit, type LoadedKit} from './load.js'
import {Annotation, ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, type KitSpec} from './model.js'

export interface BuildOptions {
  store: OciLayoutStore
  /** `name:tag` (or `name`, tagged `latest`). Default `<spec name>:<version>` or `<spec name>:latest`. */
  tag?: string
  /** Seconds since the epoch for `org.opencontainers.image.created`; default SOURCE_DATE_EPOCH, else 0. */
  sourceDateEpoch?: number
  /** Directory for the layer's temp file (default: the OS temp dir). */
  tempDir?: string
}

export interface BuildResult {
  /** The reference tagged in the store (`my-mixin:1.2.3`). */
  reference: string
  /** Digest of the manifest. */
  digest: string
  /** Size of the manifest in bytes. */
  size: number
  descriptor: Descriptor
  /** The layer's blob descriptor and its uncompressed digest. */
  layer: Descriptor & {diffId: string}
  config: Descriptor
  /** Warnings from validation (deprecated spellings, ignored paths). */
  warnings: Diagnostic[]
}

/** A --tag that is not `name[:tag]`. */
export class InvalidTagError extends Error {
  readonly code = 'E_INVALID_TAG'
  constructor(
    readonly tag: string,
    reason: string,
  ) {
    super(`invalid tag ${JSON.stringify(tag)}: ${reason}`)
    this.name = 'InvalidTagError'
  }
}

export async function buildKit(dir: string, opts: BuildOptions): Promise<BuildResult> {
  const kit = await loadKit(dir)
  const reference = storeReference(opts.tag, kit.spec)
  const created = createdTimestamp(opts.sourceDateEpoch ?? sourceDateEpochFromEnv())

  const parent = opts.tempDir ?? tmpdir()
  await removeDeadBuildDirs(parent)
  const work = await mkdtemp(join(parent, `kit-build-${process.pid}-`))
  try {
    const layer = await writeLayer(kit.files, join(work, 'layer.tar.gz'), {kitDir: dir})
    const layerDesc: Descriptor = {mediaType: MediaType.OciLayerTarGzip, digest: layer.digest, size: layer.size}
    const configDesc = describe(CONFIG_MEDIA_TYPE, kit.specBytes)
    const manifestBytes = kitManifest(kit, configDesc, layerDesc, created)
    const descriptor: Descriptor = {
      mediaType: MediaType.OciManifest,
      digest: sha256(manifestBytes),
      size: manifestBytes.byteLength,
      artifactType: ARTIFACT_TYPE,
    }
    const {store} = opts
    // store.tag re-checks every blob under the lock gc takes: when a concurrent `kit rm` removed
    // one after it was found present, push again (a bounded number of times).
    for (let attempt = 1; ; attempt++) {
      await store.push(configDesc, kit.specBytes)
      await store.push(layerDesc, createReadStream(layer.path))
      await store.push(descriptor, manifestBytes)
      try {
        await store.tag(descriptor, reference)
        break
      } catch (err) {
        if (!(err instanceof MissingContentError) || attempt >= 3) throw err
      }
    }
    return {
      reference,
      digest: descriptor.digest,
      size: descriptor.size,
      descriptor,
      layer: {...layerDesc, diffId: layer.diffId},
      config: configDesc,
      warnings: kit.warnings,
    }
  } finally {
    await rm(work, {recursive: true, force: true})
  }
}

/**
 * Work directories (`kit-build-PID-XXXXXX`) of builds that were killed: their PID is no live
 * process and they are ours. Others' and live builds' are left alone.
 */
async function removeDeadBuildDirs(parent: string): Promise<void> {
  let names: string[]
  try {
    names = await readdir(parent)
  } catch {
    return
  }
  for (const name of names) {
    const m = /^kit-build-(\d+)-/.exec(name)
    if (!m || Number(m[1]) === process.pid) continue
    try {
      process.kill(Number(m[1]), 0)
      continue
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') continue
    }
    const path = join(parent, name)
    const s = await stat(path).catch(() => undefined)
    if (s?.isDirectory() && s.uid === process.getuid?.()) await rm(path, {recursive: true, force: true}).catch(() => undefined)
  }
}

/** The manifest of a kit artifact, as canonical bytes (fixed key order, sorted annotations, no spaces). */
export function kitManifest(kit: Pick<LoadedKit, 'spec'> & Partial<Pick<LoadedKit, 'schemaVersion'>>, config: Descriptor, layer: Descriptor, created: string): Buffer {
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: ARTIFACT_TYPE,
    config: {mediaType: config.mediaType, digest: config.digest, size: config.size},
    layers: [{mediaType: layer.mediaType, digest: layer.digest, size: layer.size}],
    annotations: sortedObject(kitAnnotations(kit.spec, created, kit.schemaVersion)),
  }
  return Buffer.from(JSON.stringify(manifest), 'utf8')
}

/**
 * The manifest annotations of kit-format.md §4. The config holds the spec as authored: for a
 * schema v1 source (which sbx itself publishes as a v1 ZIP artifact) the annotation
 * vnd.docker.sandbox.kit.schema-version says so; a v2 source has none (as sbx's).
 */
export function kitAnnotations(spec: KitSpec, created: string, schemaVersion?: string): Record<string, string> {
  const a: Record<string, string> = {
    [Annotation.Name]: spec.name,
    [Annotation.Kind]: spec.kind,
    [Annotation.Title]: spec.displayName || spec.name,
    [Annotation.Created]: created,
  }
  if (spec.version) a[Annotation.Version] = spec.version
  if (spec.description) a[Annotation.Description] = spec.description
  if (spec.sourceURL) a[Annotation.Source] = spec.sourceURL
  if (schemaVersion !== undefined && schemaVersion !== '2') a[Annotation.SchemaVersion] = schemaVersion
  return a
}

/** RFC 3339, seconds precision, UTC. */
export function createdTimestamp(epochSeconds: number): string {
  if (!Number.isFinite(epochSeconds) || epochSeconds < 0) throw new Error(`invalid SOURCE_DATE_EPOCH ${epochSeconds}`)
  return new Date(Math.floor(epochSeconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** SOURCE_DATE_EPOCH when set (an integer), else 0: the digest must not change per build. */
export function sourceDateEpochFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.SOURCE_DATE_EPOCH
  if (raw === undefined || raw === '') return 0
  if (!/^\d+$/.test(raw)) {
    throw Object.assign(new Error(`SOURCE_DATE_EPOCH=${JSON.stringify(raw)} is not a whole number of seconds`), {code: 'E_SOURCE_DATE_EPOCH'})
  }
  return Number(raw)
}

const NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/
const TAG = /^[\w][\w.-]{0,127}$/

/**
 * The store reference for a build: `tag` as given (`name:tag`, `host/path/name:tag`; a bare name
 * gets `:latest`), else `<name>:<version>` or `<name>:latest`.
 */
export function storeReference(tag: string | undefined, spec: Pick<KitSpec, 'name' | 'version'>): string {
  if (tag === undefined || tag === '') return `${spec.name}:${spec.version ? tagFromVersion(spec.version) : 'latest'}`
  if (tag.includes('@')) throw new InvalidTagError(tag, 'a digest cannot be a build tag')
  const lastSlash = tag.lastIndexOf('/')
  const colon = tag.lastIndexOf(':')
  const hasTag = colon > lastSlash
  const name = hasTag ? tag.slice(0, colon) : tag
  const t = hasTag ? tag.slice(colon + 1) : 'latest'
  if (!TAG.test(t)) throw new InvalidTagError(tag, `${JSON.stringify(t)} is not a valid tag (letters, digits, _ . -, at most 128)`)
  // A registry host may carry a port and upper case; the repository path may not.
  const firstSlash = name.indexOf('/')
  const host = firstSlash > 0 && /[.:]|^localhost$/.test(name.slice(0, firstSlash)) ? name.slice(0, firstSlash) : undefined
  const path = host ? name.slice(firstSlash + 1) : name
  if (path !== path.toLowerCase()) throw new InvalidTagError(tag, `the name ${JSON.stringify(path)} must be lower case`)
  if (!NAME.test(path)) throw new InvalidTagError(tag, `${JSON.stringify(path)} is not a valid name`)
  return `${name}:${t}`
}

/** A semver version as a tag: `+` (build metadata) is not allowed in tags, so it becomes `_`. */
function tagFromVersion(version: string): string {
  const t = version.replace(/\+/g, '_')
  if (!TAG.test(t)) throw new InvalidReferenceError(version, 'the spec version cannot be used as a tag')
  return t
}

function sortedObject(o: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const k of Object.keys(o).sort()) out[k] = o[k]!
  return out
}
