// Agent images as root filesystems. `sandbox.image` is looked up, in order, in the local store
// (an OCI image manifest, or an index from which linux/amd64 is picked), in a registry (pulled
// into the store first) and in a local Docker engine when one answers (imported into the store).
// The layers of the manifest are unpacked once into $KIT_HOME/cache/images/<manifest hex>/root,
// atomically (a temp directory renamed into place), so a second start reuses the tree.
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, readFile, rename, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {type Descriptor, digestHex, isIndex, isManifest, MediaType} from '../../registry-client/descriptor.js'
import {NotFoundError} from '../../registry-client/errors.js'
import type {OciLayoutStore} from '../../registry-client/layout-store.js'
import {DEFAULT_PLATFORM, type ManifestLike, parseManifest, selectPlatform} from '../../registry-client/manifest.js'
import {cacheDir} from '../home.js'
import {ImageError} from './errors.js'
import {applyLayer} from './unpack.js'

/** What an image config says that the runtime uses. */
export interface ImageConfig {
  env: string[]
  user?: string
  workingDir?: string
  entrypoint?: string[]
  cmd?: string[]
}

export interface ResolvedImage {
  /** The reference as the kit names it. */
  reference: string
  /** The store reference it was found under. */
  storeReference: string
  /** The image manifest (after platform selection). */
  manifest: Descriptor
  layers: Descriptor[]
  config: ImageConfig
  /** Where it came from this time. */
  source: 'store' | 'registry' | 'docker'
}

const LAYER_TYPES = new Set<string>([
  MediaType.OciLayerTar,
  MediaType.OciLayerTarGzip,
  MediaType.DockerLayer,
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
])

/** Names a reference may have in the store: as written, and with :latest when it has no tag. */
export function storeCandidates(reference: string): string[] {
  const out = [reference]
  const at = reference.lastIndexOf('@')
  const lastSlash = reference.lastIndexOf('/')
  if (at < 0 && reference.lastIndexOf(':') <= lastSlash) out.push(`${reference}:latest`)
  if (at >= 0) out.push(reference.slice(at + 1))
  return out
}

/** Finds an image in the store; undefined when no candidate name is there. */
export async function findStoreImage(store: OciLayoutStore, reference: string): Promise<ResolvedImage | undefined> {
  for (const name of storeCandidates(reference)) {
    let desc: Descriptor
    try {
      desc = await store.resolve(name)
    } catch (e) {
      if (e instanceof NotFoundError || (e as {code?: string}).code === 'NOT_FOUND') continue
      throw e
    }
    return readImage(store, reference, name, desc)
  }
  return undefined
}

/** Reads the manifest (selecting linux/amd64 from an index) and its config. */
export async function readImage(store: OciLayoutStore, reference: string, storeReference: string, desc: Descriptor): Promise<ResolvedImage> {
  let manifestDesc = desc
  let m: ManifestLike = parseManifest(await store.fetchBytes(desc), reference)
  if (isIndex(desc.mediaType) || (m.manifests && !m.layers)) {
    const child = selectPlatform(m, DEFAULT_PLATFORM)
    if (!child) throw new ImageError('IMAGE_INVALID', `${reference}: the image index has no linux/amd64 manifest`)
    manifestDesc = {mediaType: child.mediaType, digest: child.digest, size: child.size}
    m = parseManifest(await store.fetchBytes(manifestDesc), reference)
  }
  if (!isManifest(manifestDesc.mediaType) || !m.layers) throw new ImageError('IMAGE_INVALID', `${reference}: not an image manifest (${manifestDesc.mediaType})`)
  if (m.artifactType === 'application/vnd.docker.sandbox.kit.v2') throw new ImageError('IMAGE_INVALID', `${reference} is a kit, not an agent image`)
  for (const l of m.layers) {
    if (!LAYER_TYPES.has(l.mediaType)) throw new ImageError('IMAGE_INVALID', `${reference}: layer ${l.digest.slice(0, 19)} has media type ${l.mediaType}, not an image layer`)
  }
  let config: ImageConfig = {env: []}
  if (m.config && m.config.mediaType !== MediaType.OciEmpty) {
    try {
      const c = JSON.parse((await store.fetchBytes(m.config)).toString('utf8')) as {config?: {Env?: string[]; User?: string; WorkingDir?: string; Entrypoint?: string[]; Cmd?: string[]}}
      const cc = c.config ?? {}
      config = {env: cc.Env ?? [], ...(cc.User ? {user: cc.User} : {}), ...(cc.WorkingDir ? {workingDir: cc.WorkingDir} : {}), ...(cc.Entrypoint ? {entrypoint: cc.Entrypoint} : {}), ...(cc.Cmd ? {cmd: cc.Cmd} : {})}
    } catch (e) {
      if (e instanceof SyntaxError) throw new ImageError('IMAGE_INVALID', `${reference}: the image config is not JSON`)
      throw e
    }
  }
  return {reference, storeReference, manifest: manifestDesc, layers: m.layers, config, source: 'store'}
}

export interface RootfsResult {
  /** The unpacked tree. */
  dir: string
  /** Whether this call unpacked it (false: it was cached). */
  unpacked: boolean
  ms: number
}

export function imageCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheDir(env), 'images')
}

/**
 * The root filesystem of an image: unpacked once per manifest digest. Concurrent callers may both
 * unpack; the first rename wins and the other's copy is discarded.
 */
export async function unpackImage(store: OciLayoutStore, image: ResolvedImage, env: NodeJS.ProcessEnv = process.env, progress?: (line: string) => void): Promise<RootfsResult> {
  const t0 = Date.now()
  const base = join(imageCacheDir(env), digestHex(image.manifest.digest))
  const root = join(base, 'root')
  if (existsSync(join(base, 'complete'))) return {dir: root, unpacked: false, ms: Date.now() - t0}
  const size = image.layers.reduce((n, l) => n + l.size, 0)
  progress?.(`unpacking image ${image.reference} (${image.layers.length} layer${image.layers.length === 1 ? '' : 's'}, ${(size / 1e6).toFixed(1)} MB; once per image)`)
  await mkdir(imageCacheDir(env), {recursive: true})
  const tmp = await mkdtemp(join(imageCacheDir(env), `.unpack-${digestHex(image.manifest.digest).slice(0, 12)}-`))
  try {
    const tree = join(tmp, 'root')
    await mkdir(tree, {mode: 0o755})
    for (const [i, layer] of image.layers.entries()) {
      try {
        await applyLayer(tree, await store.fetch(layer))
      } catch (e) {
        const err = e as Error & {code?: string}
        if (err instanceof ImageError) throw new ImageError(err.code, `${image.reference}: layer ${i + 1}/${image.layers.length}: ${err.message}`)
        throw new ImageError('IMAGE_LAYER', `${image.reference}: layer ${i + 1}/${image.layers.length} (${layer.digest.slice(0, 19)}): ${err.message}`)
      }
    }
    await writeFile(join(tmp, 'image.json'), JSON.stringify({reference: image.reference, manifest: image.manifest, config: image.config}, null, 2) + '\n')
    await writeFile(join(tmp, 'complete'), new Date().toISOString() + '\n')
    try {
      await rename(tmp, base)
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if ((code === 'ENOTEMPTY' || code === 'EEXIST') && existsSync(join(base, 'complete'))) {
        await rm(tmp, {recursive: true, force: true})
        return {dir: root, unpacked: false, ms: Date.now() - t0}
      }
      if (code === 'ENOTEMPTY' || code === 'EEXIST') {
        // a leftover without the completion marker: replace it
        await rm(base, {recursive: true, force: true})
        await rename(tmp, base)
      } else {
        throw e
      }
    }
  } catch (e) {
    await rm(tmp, {recursive: true, force: true})
    throw e
  }
  return {dir: root, unpacked: true, ms: Date.now() - t0}
}

/** The image config recorded beside a cached tree (for `kit image ls`). */
export async function cachedImageInfo(dir: string): Promise<unknown> {
  return JSON.parse(await readFile(join(dir, '..', 'image.json'), 'utf8'))
}
