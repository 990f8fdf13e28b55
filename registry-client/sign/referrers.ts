// Sigstore bundles as OCI referrers (cosign's bundle spec): the bundle is a blob; a manifest with
// artifactType = the bundle media type, the empty config, the bundle as its one layer and
// `subject` = the signed manifest points at it. The target decides how the referrer is found
// again: the local layout store lists it in index.json, a registry through the referrers API or,
// without one, the tag-schema index `sha256-<hex>` (RemoteRepository.push maintains both).
import {type Descriptor, MediaType, sha256} from '../descriptor.js'
import {parseManifest} from '../manifest.js'
import type {ReadOnlyTarget, ReferrerLister, Target} from '../target.js'
import {MAX_METADATA_BYTES, readAll} from '../verify.js'
import {BUNDLE_MEDIA_TYPE, type BundleContent, MAX_BUNDLE_BYTES} from './bundle.js'
import {BundleError} from './errors.js'

export const Annotation = {
  Content: 'dev.sigstore.bundle.content',
  PredicateType: 'dev.sigstore.bundle.predicateType',
  Created: 'org.opencontainers.image.created',
  Title: 'org.opencontainers.image.title',
} as const

/** At most this many bundle referrers of one subject are read; the rest are reported, not fetched. */
export const MAX_BUNDLE_REFERRERS = 64

const EMPTY_CONFIG = Buffer.from('{}')
const EMPTY_DESCRIPTOR: Descriptor = {mediaType: MediaType.OciEmpty, digest: sha256(EMPTY_CONFIG), size: EMPTY_CONFIG.byteLength}

export interface AttachInfo {
  content: BundleContent
  predicateType?: string
  /** RFC 3339; default now. */
  created?: string
}

/** Pushes `bundle` and a referrer manifest whose subject is `subject`; returns the referrer's descriptor. */
export async function attachBundle(target: Target, subject: Descriptor, bundle: Buffer, info: AttachInfo): Promise<Descriptor> {
  const layer: Descriptor = {mediaType: BUNDLE_MEDIA_TYPE, digest: sha256(bundle), size: bundle.byteLength}
  const annotations: Record<string, string> = {[Annotation.Content]: info.content}
  if (info.predicateType) annotations[Annotation.PredicateType] = info.predicateType
  annotations[Annotation.Created] = info.created ?? new Date().toISOString()
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: BUNDLE_MEDIA_TYPE,
    config: EMPTY_DESCRIPTOR,
    layers: [{...layer, annotations: {[Annotation.Title]: `${layer.digest.replace(':', '-')}.sigstore.json`}}],
    subject: {mediaType: subject.mediaType, digest: subject.digest, size: subject.size},
    annotations,
  }
  const bytes = Buffer.from(JSON.stringify(manifest), 'utf8')
  const desc: Descriptor = {mediaType: MediaType.OciManifest, digest: sha256(bytes), size: bytes.byteLength, artifactType: BUNDLE_MEDIA_TYPE}
  if (!(await target.exists(EMPTY_DESCRIPTOR))) await target.push(EMPTY_DESCRIPTOR, EMPTY_CONFIG)
  if (!(await target.exists(layer))) await target.push(layer, bundle)
  await target.push(desc, bytes)
  return desc
}

/** A bundle found among a subject's referrers, read and size-checked but not yet verified. */
export interface FoundBundle {
  referrer: Descriptor
  bundle: Buffer
  annotations: Record<string, string>
}

/** A referrer that is not a usable bundle, and why (reported when nothing verifies). */
export interface RejectedReferrer {
  referrer: string
  reason: string
}

/**
 * The Sigstore bundles attached to `subject`: each referrer with the bundle artifactType is read
 * (manifest verified against its digest, bundle refused above MAX_BUNDLE_BYTES). A referrer that
 * points at itself, whose `subject` is another manifest, or whose shape is wrong is rejected with a
 * reason, never followed.
 */
export async function findBundles(
  target: ReadOnlyTarget & ReferrerLister,
  subject: Descriptor,
): Promise<{found: FoundBundle[]; rejected: RejectedReferrer[]}> {
  const found: FoundBundle[] = []
  const rejected: RejectedReferrer[] = []
  const listed = await target.referrers(subject)
  const seen = new Set<string>()
  for (const r of listed) {
    if (r.artifactType !== undefined && r.artifactType !== BUNDLE_MEDIA_TYPE) continue
    if (seen.has(r.digest)) continue
    seen.add(r.digest)
    const reject = (reason: string) => rejected.push({referrer: r.digest, reason})
    if (seen.size > MAX_BUNDLE_REFERRERS) {
      reject(`more than ${MAX_BUNDLE_REFERRERS} bundle referrers; not read`)
      continue
    }
    if (r.digest === subject.digest) {
      reject('the referrer points at itself')
      continue
    }
    if (r.mediaType !== MediaType.OciManifest) {
      reject(`the referrer is a ${r.mediaType}, not an OCI manifest`)
      continue
    }
    if (r.size > MAX_METADATA_BYTES) {
      reject(`the referrer manifest is ${r.size} bytes`)
      continue
    }
    try {
      const bytes = await readAll(await target.fetch({mediaType: r.mediaType, digest: r.digest, size: r.size}), r)
      const m = parseManifest(bytes, `referrer ${r.digest}`)
      if (m.artifactType !== BUNDLE_MEDIA_TYPE) continue
      if (m.subject?.digest !== subject.digest) {
        reject(`its subject is ${m.subject?.digest ?? 'missing'}, not ${subject.digest}`)
        continue
      }
      const layers = m.layers ?? []
      const layer = layers[0]
      if (layers.length !== 1 || !layer || layer.mediaType !== BUNDLE_MEDIA_TYPE) {
        reject(`a bundle referrer has exactly one ${BUNDLE_MEDIA_TYPE} layer`)
        continue
      }
      if (layer.size > MAX_BUNDLE_BYTES) {
        reject(`the bundle is ${layer.size} bytes (limit ${MAX_BUNDLE_BYTES})`)
        continue
      }
      if (layer.digest === subject.digest || layer.digest === r.digest) {
        reject('the referrer points at itself')
        continue
      }
      const bundle = await readAll(await target.fetch(layer), layer, MAX_BUNDLE_BYTES)
      found.push({referrer: {...r, artifactType: BUNDLE_MEDIA_TYPE}, bundle, annotations: m.annotations ?? {}})
    } catch (err) {
      reject(err instanceof BundleError ? err.message : oneLine((err as Error).message))
    }
  }
  return {found, rejected}
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, '; ')
}
