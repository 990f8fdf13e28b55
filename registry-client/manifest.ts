// Reading the content graph: what a manifest or an index points at. Used by copy (walk down),
// the layout store's gc (reachability) and referrers (the `subject` field).
import {type Descriptor, isDigest, MediaType} from './descriptor.js'
import {InvalidManifestError} from './errors.js'

/** The fields of an OCI/Docker manifest or index that kit reads. */
export interface ManifestLike {
  schemaVersion?: number
  mediaType?: string
  artifactType?: string
  config?: Descriptor
  layers?: Descriptor[]
  manifests?: Descriptor[]
  blobs?: Descriptor[]
  subject?: Descriptor
  annotations?: Record<string, string>
}

/** Parses manifest/index bytes; throws InvalidManifestError when they are not a manifest. */
export function parseManifest(data: Uint8Array, where = 'manifest'): ManifestLike {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(data).toString('utf8'))
  } catch (err) {
    throw new InvalidManifestError(`${where} is not valid JSON: ${(err as Error).message}`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidManifestError(`${where} is not a JSON object`)
  }
  const m = value as ManifestLike
  for (const d of descriptorsOf(m)) {
    if (!d || typeof d !== 'object' || typeof d.digest !== 'string' || !isDigest(d.digest) || typeof d.size !== 'number') {
      throw new InvalidManifestError(`${where} has an invalid descriptor: ${JSON.stringify(d)}`)
    }
  }
  return m
}

function descriptorsOf(m: ManifestLike): Descriptor[] {
  const out: Descriptor[] = []
  if (m.config) out.push(m.config)
  if (Array.isArray(m.layers)) out.push(...m.layers)
  if (Array.isArray(m.manifests)) out.push(...m.manifests)
  if (Array.isArray(m.blobs)) out.push(...m.blobs)
  if (m.subject) out.push(m.subject)
  return out
}

/** The media type a manifest declares, or the one its shape implies when the field is absent. */
export function manifestMediaType(m: ManifestLike): string {
  if (typeof m.mediaType === 'string' && m.mediaType !== '') return m.mediaType
  return Array.isArray(m.manifests) ? MediaType.OciIndex : MediaType.OciManifest
}

/** The content a manifest or index points down to (config, layers, child manifests). Not `subject`. */
export function successors(m: ManifestLike): Descriptor[] {
  const out: Descriptor[] = []
  if (m.config) out.push(m.config)
  if (Array.isArray(m.layers)) out.push(...m.layers)
  if (Array.isArray(m.manifests)) out.push(...m.manifests)
  if (Array.isArray(m.blobs)) out.push(...m.blobs)
  return out
}

/** The descriptor a referrers listing gives for a manifest: artifactType (or config type) and annotations. */
export function referrerDescriptor(desc: Descriptor, m: ManifestLike): Descriptor {
  const out: Descriptor = {mediaType: desc.mediaType, digest: desc.digest, size: desc.size}
  const artifactType = m.artifactType ?? m.config?.mediaType
  if (artifactType) out.artifactType = artifactType
  if (m.annotations && Object.keys(m.annotations).length > 0) out.annotations = m.annotations
  return out
}

/** A platform filter for multi-platform indexes (default linux/amd64). */
export interface PlatformSpec {
  os: string
  architecture: string
  variant?: string
}

export const DEFAULT_PLATFORM: PlatformSpec = {os: 'linux', architecture: 'amd64'}

/** The child of an index for `platform`, or undefined. */
export function selectPlatform(index: ManifestLike, platform: PlatformSpec = DEFAULT_PLATFORM): Descriptor | undefined {
  const children = index.manifests ?? []
  return children.find(
    (d) =>
      d.platform?.os === platform.os &&
      d.platform?.architecture === platform.architecture &&
      (platform.variant === undefined || d.platform?.variant === platform.variant),
  )
}
