// The permission surface of a kit artifact in any target (local store or registry): the spec is its
// config blob (a v1 ZIP artifact: its spec.yaml), the file list comes from its files layer; both are
// read through verifying fetches.
import {createGunzip} from 'node:zlib'
import tar from 'tar-stream'
import type {Descriptor} from '../../registry-client/descriptor.js'
import {parseManifest} from '../../registry-client/manifest.js'
import type {ReadOnlyStorage} from '../../registry-client/target.js'
import {readAll} from '../../registry-client/verify.js'
import {fetchZipKit, isKitManifest, kitLayer, NotAKitError, normaliseSpecBytes} from '../artifact.js'
import {permissionSurface, type PermissionSurface} from './surface.js'

export async function artifactSurface(target: ReadOnlyStorage, manifest: Descriptor, reference: string): Promise<PermissionSurface> {
  const m = parseManifest(await readAll(await target.fetch(manifest), manifest), reference)
  if (!isKitManifest(m) || !m.config) throw new NotAKitError(reference, 'its manifest is not a kit manifest')
  // Layers of unknown media types are ignored; a v1 kit (sbx's ZIP artifact) holds its spec in the layer.
  const {format, layer} = kitLayer(m, reference)
  if (format === 'v1-zip') {
    const zip = await fetchZipKit(target, layer, reference)
    const {spec} = await normaliseSpecBytes(zip.specBytes, `${reference} (spec.yaml in layer ${layer.digest})`)
    return permissionSurface(spec, zip.entries.map((e) => e.path))
  }
  const specBytes = await readAll(await target.fetch(m.config), m.config)
  const {spec} = await normaliseSpecBytes(specBytes, `${reference} (config ${m.config.digest})`)
  return permissionSurface(spec, await layerPaths(target, layer))
}

async function layerPaths(target: ReadOnlyStorage, layer: Descriptor): Promise<string[]> {
  const extract = tar.extract()
  const source = await target.fetch(layer)
  const gunzip = createGunzip()
  source.on('error', (err) => gunzip.destroy(err))
  gunzip.on('error', (err) => extract.destroy(err))
  source.pipe(gunzip).pipe(extract as unknown as NodeJS.WritableStream)
  const out: string[] = []
  for await (const entry of extract) {
    out.push(entry.header.name.replace(/\/$/, ''))
    entry.resume()
  }
  return out
}
