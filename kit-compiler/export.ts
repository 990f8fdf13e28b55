// Exporting a kit from the local store as an OCI image layout that other tools read: a directory
// (`skopeo inspect oci:DIR:TAG`) or a tar of one (`oci-archive:FILE.tar:TAG`). The layout's
// index.json names the manifest by its bare tag, which is what those tools look up. Written to a
// temp path beside the output and renamed, so a failed export leaves nothing behind. The kit's
// referrers in the store (signatures, provenance) go with it, so the export verifies offline.
import {createReadStream, createWriteStream} from 'node:fs'
import {mkdir, mkdtemp, readdir, rename, rm, stat} from 'node:fs/promises'
import {basename, dirname, join, resolve} from 'node:path'
import {pipeline} from 'node:stream/promises'
import tar from 'tar-stream'
import {copy} from '../registry-client/copy.js'
import {OciLayoutStore} from '../registry-client/layout-store.js'
import {readKitArtifact, tagOf} from './artifact.js'

export class ExportError extends Error {
  readonly code = 'E_EXPORT'
  constructor(
    readonly output: string,
    message: string,
  ) {
    super(`${output}: ${message}`)
    this.name = 'ExportError'
  }
}

export interface ExportOptions {
  /** The tag in the exported layout; default the reference's tag (`latest` for a digest). */
  tag?: string
  /** Also export the kit's referrers (signatures, provenance) held in the store. Default true. */
  referrers?: boolean
}

export interface ExportResult {
  reference: string
  digest: string
  output: string
  format: 'directory' | 'tar'
  /** The name to read it by: `oci:DIR:TAG` / `oci-archive:FILE:TAG`. */
  tag: string
}

export async function exportKit(store: OciLayoutStore, reference: string, output: string, opts: ExportOptions = {}): Promise<ExportResult> {
  const art = await readKitArtifact(store, reference)
  const tag = opts.tag ?? tagOf(art.reference) ?? 'latest'
  const out = resolve(output)
  const copyOpts = {referrers: opts.referrers ?? true}
  const format = out.endsWith('.tar') ? 'tar' : 'directory'
  const existing = await stat(out).catch(() => undefined)
  if (format === 'directory' && existing) {
    if (!existing.isDirectory()) throw new ExportError(output, 'exists and is not a directory')
    const names = await readdir(out)
    if (names.length > 0 && !names.includes('oci-layout')) throw new ExportError(output, 'exists and is neither empty nor an OCI image layout')
    // Add to the layout in place: each blob and index.json are written atomically by the store.
    await copy(store, art.reference, await OciLayoutStore.open(out), tag, copyOpts)
    return {reference: art.reference, digest: art.descriptor.digest, output: out, format, tag}
  }
  if (existing?.isDirectory()) throw new ExportError(output, 'is a directory')
  await mkdir(dirname(out), {recursive: true})
  const temp = await mkdtemp(join(dirname(out), `.${basename(out)}.tmp-`))
  try {
    const layoutDir = join(temp, 'layout')
    await copy(store, art.reference, await OciLayoutStore.open(layoutDir), tag, copyOpts)
    if (format === 'directory') {
      await rename(layoutDir, out)
    } else {
      const tarPath = join(temp, 'layout.tar')
      await tarLayout(layoutDir, tarPath)
      await rename(tarPath, out)
    }
  } finally {
    await rm(temp, {recursive: true, force: true})
  }
  return {reference: art.reference, digest: art.descriptor.digest, output: out, format, tag}
}

/** A reproducible tar of a layout: its three parts only, sorted, fixed owner and mtime. */
async function tarLayout(layoutDir: string, tarPath: string): Promise<void> {
  const blobs = (await readdir(join(layoutDir, 'blobs', 'sha256'))).filter((n) => /^[a-f0-9]{64}$/.test(n)).sort()
  const pack = tar.pack()
  const writing = pipeline(pack, createWriteStream(tarPath))
  const base = {uid: 0, gid: 0, uname: '', gname: '', mtime: new Date(0)}
  const add = (header: tar.Header | (Partial<tar.Header> & {name: string}), file?: string): Promise<void> =>
    new Promise((res, rej) => {
      const sink = pack.entry({...base, ...header}, (err) => (err ? rej(err) : res()))
      if (file) createReadStream(file).pipe(sink as unknown as NodeJS.WritableStream)
    })
  const fileEntry = async (name: string, path: string): Promise<void> =>
    add({name, type: 'file', mode: 0o644, size: (await stat(path)).size}, path)
  try {
    await add({name: 'blobs/', type: 'directory', mode: 0o755})
    await add({name: 'blobs/sha256/', type: 'directory', mode: 0o755})
    for (const hex of blobs) await fileEntry(`blobs/sha256/${hex}`, join(layoutDir, 'blobs', 'sha256', hex))
    await fileEntry('index.json', join(layoutDir, 'index.json'))
    await fileEntry('oci-layout', join(layoutDir, 'oci-layout'))
    pack.finalize()
    await writing
  } catch (err) {
    pack.destroy(err as Error)
    await writing.catch(() => undefined)
    throw err
  }
}
