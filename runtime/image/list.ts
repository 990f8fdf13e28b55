// `kit image ls`: the agent images in the local store (OCI image manifests and indexes that are
// not kits), with whether their root filesystem is unpacked in the cache.
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {digestHex, isIndex, isManifest} from '../../registry-client/descriptor.js'
import type {OciLayoutStore} from '../../registry-client/layout-store.js'
import {parseManifest} from '../../registry-client/manifest.js'
import {imageCacheDir, readImage} from './rootfs.js'

export interface ListedImage {
  reference: string
  digest: string
  /** Sum of the layer sizes (compressed, as stored). */
  size: number
  layers: number
  /** Whether its root filesystem is unpacked in the cache. */
  unpacked: boolean
}

const KIT_TYPES = new Set(['application/vnd.docker.sandbox.kit.v2'])

export async function listImages(store: OciLayoutStore, env: NodeJS.ProcessEnv = process.env): Promise<ListedImage[]> {
  const out: ListedImage[] = []
  for (const {reference, descriptor} of await store.list()) {
    if (!isManifest(descriptor.mediaType)) continue
    let m
    try {
      m = parseManifest(await store.fetchBytes(descriptor), reference)
    } catch {
      continue
    }
    if (!isIndex(descriptor.mediaType)) {
      if (KIT_TYPES.has(m.artifactType ?? '') || m.config?.mediaType === 'application/vnd.docker.sandbox.kit.v2.spec+yaml') continue
      if (m.subject || !m.layers || m.layers.length === 0) continue
      if (m.config && !/image\.config|container\.image/.test(m.config.mediaType)) continue
    }
    try {
      const img = await readImage(store, reference, reference, descriptor)
      out.push({
        reference,
        digest: img.manifest.digest,
        size: img.layers.reduce((n, l) => n + l.size, 0),
        layers: img.layers.length,
        unpacked: existsSync(join(imageCacheDir(env), digestHex(img.manifest.digest), 'complete')),
      })
    } catch {
      continue
    }
  }
  return out
}
