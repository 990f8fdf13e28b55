// Finding an agent image and turning it into a root filesystem: the local store first, then a
// registry (pulled into the store), then a local Docker engine (imported into the store). Whatever
// the source, the tree is unpacked from the store, once per manifest digest.
import type {OciLayoutStore} from '../../registry-client/layout-store.js'
import {parseReference, type Reference} from '../../registry-client/reference.js'
import {pull} from '../../registry-client/pull.js'
import {importFromDocker} from './docker.js'
import {ImageError} from './errors.js'
import {findStoreImage, readImage, unpackImage, type ResolvedImage, type RootfsResult} from './rootfs.js'

export interface EnsureImageOptions {
  env?: NodeJS.ProcessEnv
  /** Registry sources allowed (kit.allowedSources); empty: any. */
  allowedSources?: readonly string[]
  /** Do not contact registries or a Docker engine: the store only. */
  offline?: boolean
  /** A line of progress ("pulling ..."), for the CLI. */
  progress?: (line: string) => void
}

export interface EnsuredImage {
  image: ResolvedImage
  rootfs: RootfsResult
}

/** A registry reference worth pulling: it names a registry host other than a bare `localhost`. */
function registryRef(reference: string): Reference | undefined {
  let ref: Reference
  try {
    ref = parseReference(reference, {defaultRegistry: 'docker.io'})
  } catch {
    return undefined
  }
  // `localhost/NAME` (no port) is the convention for locally built images: never a registry.
  if (ref.registry === 'localhost') return undefined
  return ref
}

export async function resolveImage(store: OciLayoutStore, reference: string, opts: EnsureImageOptions = {}): Promise<ResolvedImage> {
  const env = opts.env ?? process.env
  const local = await findStoreImage(store, reference)
  if (local) return local
  const hint = 'build or import it first (scripts/build-sample-image.sh for the sample agent, or `kit image import ROOTFS.tar --tag REF`)'
  if (opts.offline) throw new ImageError('IMAGE_NOT_FOUND', `agent image ${reference} is not in the local store; ${hint}`)
  const ref = registryRef(reference)
  const failures: string[] = []
  if (ref) {
    opts.progress?.(`pulling ${ref.toString()}`)
    let pulled
    try {
      pulled = await pull(ref, store, {allowedSources: opts.allowedSources, referrers: false})
    } catch (e) {
      if ((e as {code?: string}).code === 'SOURCE_NOT_ALLOWED') throw e
      failures.push(`registry ${ref.registry}: ${(e as Error).message}`)
    }
    if (pulled) {
      // Also known by the name the kit uses, so the next start finds it in the store at once.
      const desc = await store.resolve(pulled.storedAs[0]!)
      if (pulled.storedAs[0] !== reference) await store.tag(desc, reference)
      return {...(await readImage(store, reference, reference, desc)), source: 'registry'}
    }
  }
  try {
    const desc = await importFromDocker(store, reference, env)
    if (desc) {
      opts.progress?.(`imported ${reference} from the local Docker engine`)
      return {...(await readImage(store, reference, reference, desc)), source: 'docker'}
    }
  } catch (e) {
    failures.push((e as Error).message)
  }
  throw new ImageError('IMAGE_NOT_FOUND', `agent image ${reference} is not in the local store${failures.length ? ` (${failures.join('; ')})` : ''}; ${hint}`)
}

/** The image's root filesystem tree, unpacked once per manifest digest. */
export async function ensureImage(store: OciLayoutStore, reference: string, opts: EnsureImageOptions = {}): Promise<EnsuredImage> {
  const image = await resolveImage(store, reference, opts)
  const rootfs = await unpackImage(store, image, opts.env ?? process.env, opts.progress)
  return {image, rootfs}
}
