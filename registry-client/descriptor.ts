// Descriptors and digests: every read and write in registry-client is addressed by a descriptor
// (media type, digest, size), and verification lives in the read path (see verify.ts).
import {createHash} from 'node:crypto'

export interface Platform {
  architecture: string
  os: string
  variant?: string
  'os.version'?: string
  'os.features'?: string[]
}

/** An OCI content descriptor (image-spec descriptor.md). */
export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  annotations?: Record<string, string>
  artifactType?: string
  platform?: Platform
  urls?: string[]
  data?: string
}

export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayerTarGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const

export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaType.OciManifest,
  MediaType.OciIndex,
  MediaType.DockerManifest,
  MediaType.DockerManifestList,
]

export const INDEX_MEDIA_TYPES: readonly string[] = [MediaType.OciIndex, MediaType.DockerManifestList]

export function isManifest(mediaType: string): boolean {
  return MANIFEST_MEDIA_TYPES.includes(mediaType)
}

export function isIndex(mediaType: string): boolean {
  return INDEX_MEDIA_TYPES.includes(mediaType)
}

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/

/** True for a well-formed sha256 digest (the only algorithm kit writes or accepts). */
export function isDigest(value: string): boolean {
  return DIGEST_RE.test(value)
}

export function sha256(data: Uint8Array | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex')
}

/** The hex part of a digest, for blob paths ("blobs/sha256/<hex>"). */
export function digestHex(digest: string): string {
  if (!isDigest(digest)) throw new Error(`invalid digest ${JSON.stringify(digest)}`)
  return digest.slice('sha256:'.length)
}

/** A descriptor for bytes held in memory. */
export function describe(mediaType: string, data: Uint8Array, extra: Partial<Descriptor> = {}): Descriptor {
  return {mediaType, digest: sha256(data), size: data.byteLength, ...extra}
}
