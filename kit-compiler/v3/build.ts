// `kit build` of a v3 kit (SPEC-v3 §9, §10): an ordinary OCI image in the local store whose manifest
// carries the published descriptor as an annotation. A declaration-only mixin is built natively:
// one layer with the staged sources (usr/share/sandbox/kit/<stem>/kit.yaml, context files). A kit
// with a Dockerfile recipe is built by the Docker engine (./engine.ts) and its layers imported, the
// staged-sources layer last. Reproducible: fixed tar headers and gzip header, sorted annotations,
// `created` only from SOURCE_DATE_EPOCH, never from the wall clock.
import {createHash} from 'node:crypto'
import {gzipSync} from 'node:zlib'
import tar from 'tar-stream'
import {type Descriptor, MediaType, describe, sha256} from '../../registry-client/descriptor.js'
import type {OciLayoutStore} from '../../registry-client/layout-store.js'
import {createdTimestamp, storeReference} from '../build.js'
import {KitValidationError, type Diagnostic} from '../diagnostics.js'
import {derivedDebProvides, publish, v3Annotations, withDerivedProvides, type Published, type StagedFile} from './publish.js'
import {validateV3Dir, type V3Kit} from './validate.js'

export const IMAGE_CONFIG_MEDIA_TYPE = 'application/vnd.oci.image.config.v1+json'

export interface V3BuildOptions {
  store: OciLayoutStore
  /** NAME:TAG; default `<stem>:<version>` or `<stem>:latest`. */
  tag?: string
  /** Values of build-phase args, by arg name. */
  buildArgs?: Record<string, string>
  /** Seconds since the epoch for `created`; undefined (and no SOURCE_DATE_EPOCH): no `created` at all. */
  sourceDateEpoch?: number
  /** Environment for reaching the Docker engine (DOCKER_HOST); default process.env. */
  engineEnv?: NodeJS.ProcessEnv
}

export interface V3BuildResult {
  reference: string
  digest: string
  size: number
  descriptor: Descriptor
  config: Descriptor
  layers: Array<Descriptor & {diffId: string}>
  schemaVersion: '3'
  kind: string
  /** How the content was made: `descriptor-only` (native) or `engine` (Docker). */
  builtWith: 'descriptor-only' | 'engine'
  warnings: Diagnostic[]
}

export interface ImageLayer {
  /** gzip bytes */
  blob: Buffer
  diffId: string
}

/** A reproducible tar+gzip of `files` (parent directories added, 0755/0644, root-owned, mtime `mtime`). */
export async function stagedLayer(files: StagedFile[], mtime: number): Promise<ImageLayer> {
  const pack = tar.pack()
  const packed = packBytes(pack)
  const dirs = new Set<string>()
  for (const f of files) {
    const parts = f.path.split('/')
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'))
  }
  const entries = [...[...dirs].map((d) => ({path: d, dir: true as const})), ...files.map((f) => ({path: f.path, dir: false as const, content: f.content}))]
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  const header = {uid: 0, gid: 0, uname: '', gname: '', mtime: new Date(mtime * 1000)}
  for (const e of entries) {
    if (e.dir) pack.entry({...header, name: `${e.path}/`, type: 'directory', mode: 0o755})
    else pack.entry({...header, name: e.path, type: 'file', mode: 0o644, size: e.content.length}, e.content)
  }
  pack.finalize()
  const tarBytes = await packed
  const blob = gzipSync(tarBytes, {level: 9})
  blob[9] = 0xff // gzip OS byte: the same on every machine (as kit's v2 layers)
  return {blob, diffId: `sha256:${createHash('sha256').update(tarBytes).digest('hex')}`}
}

/** All the bytes `pack` writes, once it ends (listen before writing entries). */
export function packBytes(pack: tar.Pack): Promise<Buffer> {
  const chunks: Buffer[] = []
  pack.on('data', (c: unknown) => chunks.push(c as Buffer))
  return new Promise<Buffer>((resolve, reject) => {
    pack.on('end', () => resolve(Buffer.concat(chunks)))
    pack.on('error', reject)
  })
}

/** Go's GOARCH for this machine (the image config's architecture). */
export function goArch(arch: string = process.arch): string {
  return ({x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64'} as Record<string, string>)[arch] ?? arch
}

function epochFromEnv(): number | undefined {
  const raw = process.env.SOURCE_DATE_EPOCH
  if (raw === undefined || raw === '') return undefined
  if (!/^\d+$/.test(raw)) throw Object.assign(new Error(`SOURCE_DATE_EPOCH=${JSON.stringify(raw)} is not a whole number of seconds`), {code: 'E_SOURCE_DATE_EPOCH'})
  return Number(raw)
}

/** Builds the v3 kit in `dir` into the store. Throws KitValidationError when it does not validate. */
export async function buildV3(dir: string, opts: V3BuildOptions): Promise<V3BuildResult> {
  const result = await validateV3Dir(dir)
  if (!result) throw new KitValidationError([{severity: 'error', file: dir, code: 'no-spec', message: 'no v3 descriptor in this directory'}])
  if (!result.valid || !result.kit) throw new KitValidationError(result.diagnostics)
  const kit = result.kit
  let published = await publish(kit, opts.buildArgs)
  const epoch = opts.sourceDateEpoch ?? epochFromEnv()
  const created = epoch === undefined ? undefined : createdTimestamp(epoch)
  const reference = storeReference(opts.tag, {name: kit.source.stem, version: published.descriptor.version})

  let base: {layers: ImageLayer[]; config: Record<string, unknown>} = {layers: [], config: {}}
  let builtWith: V3BuildResult['builtWith'] = 'descriptor-only'
  if (kit.recipe) {
    const {engineBuild} = await import('./engine.js')
    const image = await engineBuild(kit, published, {env: opts.engineEnv ?? process.env, epoch: epoch ?? 0})
    base = image
    if (image.dpkgStatus) published = withDerivedProvides(published, derivedDebProvides(image.dpkgStatus))
    builtWith = 'engine'
  } else if (published.descriptor.kind === 'workload') {
    throw new KitValidationError([{severity: 'error', file: kit.source.file, code: 'workload-has-content',
      message: `a kind: workload kit must have content: add ${kit.source.stem}.dockerfile, dockerfile: or build: (SPEC-v3 §3.5)`}])
  }
  const sources = await stagedLayer(published.staged, epoch ?? 0)
  const layers = [...base.layers, sources]
  return storeImage(opts.store, kit, published, layers, base.config, {reference, created, builtWith, warnings: [...kit.warnings, ...published.warnings]})
}

async function storeImage(
  store: OciLayoutStore, kit: V3Kit, published: Published, layers: ImageLayer[], imageConfig: Record<string, unknown>,
  o: {reference: string; created?: string; builtWith: V3BuildResult['builtWith']; warnings: Diagnostic[]},
): Promise<V3BuildResult> {
  const config: Record<string, unknown> = {}
  if (o.created) config.created = o.created
  config.architecture = (imageConfig.architecture as string | undefined) ?? goArch()
  config.os = 'linux'
  config.config = imageConfig.config ?? {}
  config.rootfs = {type: 'layers', diff_ids: layers.map((l) => l.diffId)}
  const configBytes = Buffer.from(JSON.stringify(config))
  const configDesc = describe(IMAGE_CONFIG_MEDIA_TYPE, configBytes)
  const layerDescs = layers.map((l) => ({mediaType: MediaType.OciLayerTarGzip, digest: sha256(l.blob), size: l.blob.length, diffId: l.diffId}))
  const annotations = v3Annotations(published, o.created)
  const sorted: Record<string, string> = {}
  for (const k of Object.keys(annotations).sort()) sorted[k] = annotations[k]!
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: {mediaType: configDesc.mediaType, digest: configDesc.digest, size: configDesc.size},
    layers: layerDescs.map(({mediaType, digest, size}) => ({mediaType, digest, size})),
    annotations: sorted,
  }
  const manifestBytes = Buffer.from(JSON.stringify(manifest))
  const descriptor: Descriptor = {mediaType: MediaType.OciManifest, digest: sha256(manifestBytes), size: manifestBytes.length}
  await store.push(configDesc, configBytes)
  for (let i = 0; i < layers.length; i++) {
    const d = layerDescs[i]!
    if (!(await store.exists(d))) await store.push({mediaType: d.mediaType, digest: d.digest, size: d.size}, layers[i]!.blob)
  }
  await store.push(descriptor, manifestBytes)
  await store.tag(descriptor, o.reference)
  return {
    reference: o.reference, digest: descriptor.digest, size: descriptor.size, descriptor, config: configDesc, layers: layerDescs,
    schemaVersion: '3', kind: published.descriptor.kind, builtWith: o.builtWith, warnings: o.warnings,
  }
}
