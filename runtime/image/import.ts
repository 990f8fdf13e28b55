// `kit image import ROOTFS.tar --tag REF`: a root filesystem tarball (`docker export`, mmdebstrap,
// any flattened rootfs, plain or gzip) becomes a one-layer OCI image in the local store, tagged
// REF. The layer is the tarball's bytes recompressed with gzip (parallel); the config records the
// uncompressed digest as its diff_id, linux/amd64, and a default PATH.
import {createHash} from 'node:crypto'
import {createReadStream, createWriteStream} from 'node:fs'
import {mkdir, mkdtemp, open, rm, stat} from 'node:fs/promises'
import {join} from 'node:path'
import {PassThrough, Transform, type TransformCallback, type Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {createGunzip} from 'node:zlib'
import tar from 'tar-stream'
import {describe, type Descriptor, MediaType} from '../../registry-client/descriptor.js'
import type {OciLayoutStore} from '../../registry-client/layout-store.js'
import {ParallelGzip} from '../../kit-compiler/parallel-gzip.js'
import {cacheDir} from '../home.js'
import {ImageError} from './errors.js'
import {diskFull, isDiskFull} from '../disk.js'

export const DEFAULT_IMAGE_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

export interface ImportResult {
  reference: string
  manifest: Descriptor
  layer: Descriptor
  diffId: string
  /** Entries seen in the tarball. */
  entries: number
}

export interface ImportOptions {
  env?: NodeJS.ProcessEnv
  /** Extra config: the image's default command (default /bin/sh when the tree has it). */
  cmd?: string[]
  /** Annotations for the manifest (org.opencontainers.image.*). */
  annotations?: Record<string, string>
}

/** Hashes what passes through and lets a side consumer look at it. */
class Tap extends Transform {
  readonly hash = createHash('sha256')
  bytes = 0
  constructor(private readonly side?: NodeJS.WritableStream) {
    super()
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk)
    this.bytes += chunk.length
    this.side?.write(chunk)
    cb(null, chunk)
  }
  override _flush(cb: TransformCallback): void {
    this.side?.end()
    cb()
  }
}

async function isGzip(path: string): Promise<boolean> {
  const fh = await open(path, 'r')
  try {
    const b = Buffer.alloc(2)
    await fh.read(b, 0, 2, 0)
    return b[0] === 0x1f && b[1] === 0x8b
  } finally {
    await fh.close()
  }
}

export async function importRootfsTarball(store: OciLayoutStore, tarPath: string, reference: string, opts: ImportOptions = {}): Promise<ImportResult> {
  const env = opts.env ?? process.env
  const st = await stat(tarPath).catch(() => undefined)
  if (!st?.isFile()) throw new ImageError('IMAGE_IMPORT', `${tarPath}: no such file`)
  const tmpBase = join(cacheDir(env), 'tmp')
  await mkdir(tmpBase, {recursive: true})
  const tmp = await mkdtemp(join(tmpBase, 'import-'))
  try {
    // Look at the entries while the bytes stream through: a rootfs has bin/ or usr/.
    const extract = tar.extract()
    let lookError: ImageError | undefined
    const seen = {entries: 0, rootDirs: new Set<string>(), sh: false}
    const looked = (async () => {
      for await (const e of extract) {
        seen.entries++
        const name = e.header.name.replace(/^(\.\/)+|^\/+/, '')
        const top = name.split('/')[0]
        if (top) seen.rootDirs.add(top)
        if (name === 'bin/sh' || name === 'usr/bin/sh') seen.sh = true
        e.resume()
      }
    })().catch((e: Error) => {
      lookError = new ImageError('IMAGE_IMPORT', `${tarPath} is not a tar archive: ${e.message}`)
    })
    const side = new PassThrough({highWaterMark: 1 << 20})
    side.pipe(extract as unknown as NodeJS.WritableStream)
    const tap = new Tap(side)
    const layerPath = join(tmp, 'layer.tar.gz')
    const layerHash = createHash('sha256')
    let layerSize = 0
    const counter = new Transform({
      transform(chunk: Buffer, _e, cb) {
        layerHash.update(chunk)
        layerSize += chunk.length
        cb(null, chunk)
      },
    })
    const source: Readable = createReadStream(tarPath)
    const stages: Array<NodeJS.ReadableStream | NodeJS.WritableStream | NodeJS.ReadWriteStream> = [source]
    if (await isGzip(tarPath)) stages.push(createGunzip())
    stages.push(tap, new ParallelGzip({level: 1}), counter, createWriteStream(layerPath, {mode: 0o600}))
    try {
      await pipeline(stages as unknown as [Readable, ...NodeJS.WritableStream[]])
    } catch (e) {
      if (isDiskFull(e)) throw diskFull(e, `importing ${tarPath}`)
      throw new ImageError('IMAGE_IMPORT', `cannot read ${tarPath}: ${(e as Error).message}`)
    }
    await looked
    if (lookError) throw lookError
    if (seen.entries === 0 || (!seen.rootDirs.has('bin') && !seen.rootDirs.has('usr'))) {
      throw new ImageError('IMAGE_IMPORT', `${tarPath} does not look like a root filesystem (no bin/ or usr/ at its top)`)
    }
    const diffId = `sha256:${tap.hash.digest('hex')}`
    const layer: Descriptor = {mediaType: MediaType.OciLayerTarGzip, digest: `sha256:${layerHash.digest('hex')}`, size: layerSize}
    await store.push(layer, createReadStream(layerPath))
    const config = {
      architecture: 'amd64',
      os: 'linux',
      config: {Env: [DEFAULT_IMAGE_PATH], ...(opts.cmd ? {Cmd: opts.cmd} : seen.sh ? {Cmd: ['/bin/sh']} : {})},
      rootfs: {type: 'layers', diff_ids: [diffId]},
      history: [{created_by: `kit image import ${tarPath.split('/').pop()}`}],
    }
    const configBytes = Buffer.from(JSON.stringify(config))
    const configDesc = describe(MediaType.OciConfig, configBytes)
    await store.push(configDesc, configBytes)
    const manifestObj = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: configDesc,
      layers: [layer],
      ...(opts.annotations && Object.keys(opts.annotations).length ? {annotations: opts.annotations} : {}),
    }
    const manifestBytes = Buffer.from(JSON.stringify(manifestObj))
    const manifest = describe(MediaType.OciManifest, manifestBytes)
    await store.push(manifest, manifestBytes)
    await store.tag(manifest, reference)
    return {reference, manifest: {mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size}, layer, diffId, entries: seen.entries}
  } finally {
    await rm(tmp, {recursive: true, force: true})
  }
}
