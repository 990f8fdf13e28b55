// Kits with a Dockerfile recipe are built by the Docker engine (dockerode): the descriptor's
// directory is the build context, build-phase args are passed as --build-arg, and the result is
// read back with `docker save` and imported as gzip layers. A mixin keeps only its delta over the
// base image its final stage names (SPEC-v3 §10), with the config fields its recipe stated; a
// workload keeps its whole root filesystem and config, and its dpkg database feeds derived
// provides (§9.6). No engine: one clear error.
import {randomBytes} from 'node:crypto'
import {lstat, readdir, readFile} from 'node:fs/promises'
import {join, relative} from 'node:path'
import {gunzipSync, gzipSync} from 'node:zlib'
import {createHash} from 'node:crypto'
import Docker from 'dockerode'
import tar from 'tar-stream'
import {type ImageLayer, packBytes} from './build.js'
import type {Published} from './publish.js'
import type {V3Kit} from './validate.js'

export class EngineUnavailableError extends Error {
  readonly code = 'E_NO_ENGINE'
}
export class EngineBuildError extends Error {
  readonly code = 'E_ENGINE_BUILD'
}

function socketOf(env: NodeJS.ProcessEnv): string {
  const host = env.DOCKER_HOST
  if (!host) return '/var/run/docker.sock'
  if (host.startsWith('unix://')) return host.slice('unix://'.length)
  throw new EngineUnavailableError(`DOCKER_HOST=${host}: kit builds through a local engine socket (unix://PATH) only`)
}

interface RawLayer {
  tar: Buffer
  diffId: string
}

export interface EngineImage {
  layers: ImageLayer[]
  /** The image config to publish (architecture, config). */
  config: Record<string, unknown>
  /** /var/lib/dpkg/status of a workload's root filesystem, when it has one. */
  dpkgStatus?: string
}

/** The build context: every file of the kit directory (plus a generated Dockerfile for inline/comment recipes). */
async function contextTar(dir: string, extra?: {name: string; text: string}): Promise<Buffer> {
  const pack = tar.pack()
  const packed = packBytes(pack)
  const walk = async (d: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      const path = join(d, name)
      const rel = relative(dir, path)
      const info = await lstat(path)
      if (info.isDirectory()) {
        pack.entry({name: `${rel}/`, type: 'directory', mode: info.mode & 0o7777})
        await walk(path)
      } else if (info.isFile()) {
        const content = await readFile(path)
        pack.entry({name: rel, type: 'file', mode: info.mode & 0o7777, size: content.length}, content)
      }
    }
  }
  await walk(dir)
  if (extra) pack.entry({name: extra.name, type: 'file', mode: 0o644, size: Buffer.byteLength(extra.text)}, extra.text)
  pack.finalize()
  return packed
}

/** The image the final stage builds FROM (undefined for scratch or another stage). */
export function finalBase(dockerfile: string, buildArgs: Record<string, string>): string | undefined {
  const stages = new Set<string>()
  let last: string | undefined
  for (const raw of dockerfile.split('\n')) {
    const m = /^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$/i.exec(raw)
    if (!m) continue
    const image = m[1]!.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (w, n: string) => buildArgs[n] ?? w)
    last = stages.has(image.toLowerCase()) || image === 'scratch' ? undefined : image
    if (m[2]) stages.add(m[2].toLowerCase())
  }
  return last
}

export async function engineBuild(kit: V3Kit, published: Published, o: {env: NodeJS.ProcessEnv; epoch: number}): Promise<EngineImage> {
  const socketPath = socketOf(o.env)
  const docker = new Docker({socketPath})
  try {
    await docker.ping()
  } catch {
    throw new EngineUnavailableError(`${kit.source.file}: this kit has a Dockerfile recipe, which kit builds through a Docker engine, and none answers at ${socketPath} (start dockerd, or set DOCKER_HOST=unix://PATH)`)
  }
  const recipe = kit.recipe!
  const generated = recipe.form === 'inline' ? '.kit-v3-build.dockerfile' : undefined
  const dockerfile = generated ?? relative(kit.dir, recipe.path!)
  const context = await contextTar(kit.dir, generated ? {name: generated, text: recipe.text} : undefined)
  const tag = `kit-v3-build:${randomBytes(8).toString('hex')}`
  const stream = await docker.buildImage(context as unknown as NodeJS.ReadableStream, {t: tag, dockerfile, buildargs: published.buildArgs, rm: true, forcerm: true})
  const log: string[] = []
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve()), (event: any) => {
      if (event.stream) log.push(String(event.stream))
      if (event.error) reject(new EngineBuildError(`${kit.source.file}: the Docker build failed: ${String(event.error).trim()}`))
    })
  })
  try {
    const image = docker.getImage(tag)
    const info = await image.inspect()
    const saved = await readSaved(await image.get())
    let layers = saved.layers
    const config = info.Config ?? ({} as any)
    let out: Record<string, unknown> = {architecture: info.Architecture, config: pickConfig(config)}
    if (published.descriptor.kind === 'mixin') {
      const base = finalBase(recipe.text, published.buildArgs)
      if (base) {
        let baseInfo
        try {
          baseInfo = await docker.getImage(base).inspect()
        } catch {
          baseInfo = undefined
        }
        const baseLayers: string[] = baseInfo?.RootFS?.Layers ?? []
        if (baseLayers.length && baseLayers.every((d, i) => layers[i]?.diffId === d)) layers = layers.slice(baseLayers.length)
        out = {architecture: info.Architecture, config: deltaConfig(config, baseInfo?.Config ?? {})}
      }
    }
    const clamped: ImageLayer[] = []
    for (const l of layers) clamped.push(await clampLayer(l.tar, o.epoch))
    return {layers: clamped, config: out, dpkgStatus: published.descriptor.kind === 'workload' ? saved.dpkgStatus : undefined}
  } finally {
    await docker.getImage(tag).remove({force: true}).catch(() => undefined)
  }
}

function pickConfig(c: any): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [from, to] of [['User', 'User'], ['ExposedPorts', 'ExposedPorts'], ['Env', 'Env'], ['Entrypoint', 'Entrypoint'], ['Cmd', 'Cmd'], ['Volumes', 'Volumes'], ['WorkingDir', 'WorkingDir'], ['Labels', 'Labels'], ['StopSignal', 'StopSignal']] as const) {
    const v = c[from]
    if (v !== undefined && v !== null && v !== '' && !(typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0)) out[to] = v
  }
  return out
}

/** What a mixin's recipe stated over its base: new env (PATH reduced to added elements), labels, ports, volumes, contract fields that changed. */
function deltaConfig(c: any, base: any): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const baseEnv = new Map<string, string>((base.Env ?? []).map((e: string) => [e.split('=')[0], e.slice(e.indexOf('=') + 1)]))
  const env: string[] = []
  for (const e of (c.Env ?? []) as string[]) {
    const k = e.split('=')[0]!
    const v = e.slice(e.indexOf('=') + 1)
    if (baseEnv.get(k) === v) continue
    if (k === 'PATH' && baseEnv.has('PATH')) {
      const before = new Set(baseEnv.get('PATH')!.split(':'))
      const added = v.split(':').filter((p) => !before.has(p))
      if (added.length) env.push(`PATH=${added.join(':')}`)
      continue
    }
    env.push(e)
  }
  if (env.length) out.Env = env
  const diffMap = (a: Record<string, unknown> | undefined, b: Record<string, unknown> | undefined) => {
    const r: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(a ?? {})) if (!(b && k in b && JSON.stringify(b[k]) === JSON.stringify(v))) r[k] = v
    return Object.keys(r).length ? r : undefined
  }
  for (const k of ['Labels', 'ExposedPorts', 'Volumes'] as const) {
    const d = diffMap(c[k], base[k])
    if (d) out[k] = d
  }
  for (const k of ['Entrypoint', 'Cmd', 'User', 'WorkingDir'] as const) {
    if (c[k] !== undefined && c[k] !== null && c[k] !== '' && JSON.stringify(c[k]) !== JSON.stringify(base[k])) out[k] = c[k]
  }
  return out
}

/** Reads `docker save` output: the image's layers in order (re-compressed with gzip) and its dpkg status. */
async function readSaved(stream: NodeJS.ReadableStream): Promise<{layers: RawLayer[]; dpkgStatus?: string}> {
  const files = new Map<string, Buffer>()
  const extract = tar.extract()
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, body, next) => {
      const chunks: Buffer[] = []
      body.on('data', (c: unknown) => chunks.push(c as Buffer))
      body.on('end', () => {
        if (header.type === 'file') files.set(header.name, Buffer.concat(chunks))
        next()
      })
      body.on('error', reject)
    })
    extract.on('finish', () => resolve())
    extract.on('error', reject)
  })
  stream.pipe(extract as unknown as NodeJS.WritableStream)
  await done
  const manifest = JSON.parse(files.get('manifest.json')!.toString('utf8')) as Array<{Layers: string[]}>
  const layers: RawLayer[] = []
  let dpkgStatus: string | undefined
  for (const name of manifest[0]!.Layers) {
    let bytes = files.get(name)
    if (!bytes) throw new EngineBuildError(`docker save output lacks ${name}`)
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes)
    const status = await fileInTar(bytes, 'var/lib/dpkg/status')
    if (status !== undefined) dpkgStatus = status
    layers.push({tar: bytes, diffId: `sha256:${createHash('sha256').update(bytes).digest('hex')}`})
  }
  return {layers, dpkgStatus}
}

/**
 * A layer re-packed for reproducibility: every mtime clamped to `epoch` (SOURCE_DATE_EPOCH, else 0),
 * as reproducible-builds' clamping does; owners, modes, links, xattrs and order kept.
 */
export async function clampLayer(tarBytes: Buffer, epoch: number): Promise<ImageLayer> {
  const extract = tar.extract()
  const pack = tar.pack()
  const packed = packBytes(pack)
  const limit = new Date(epoch * 1000)
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, body, next) => {
      const h = {...header, mtime: header.mtime && header.mtime > limit ? limit : header.mtime}
      delete (h as any).atime
      delete (h as any).ctime
      if (h.pax) {
        const pax: Record<string, string> = {...(h.pax as Record<string, string>)}
        for (const k of ['mtime', 'atime', 'ctime']) delete pax[k]
        h.pax = pax
      }
      const parts: Buffer[] = []
      body.on('data', (c: unknown) => parts.push(c as Buffer))
      body.on('end', () => {
        const content = Buffer.concat(parts)
        const done = (err?: Error | null) => (err ? reject(err) : next())
        if (header.type === 'file' || header.type === 'contiguous-file') pack.entry(h, content, done)
        else pack.entry(h, done)
      })
      body.on('error', reject)
    })
    extract.on('finish', () => resolve())
    extract.on('error', reject)
  })
  extract.end(tarBytes)
  await done
  pack.finalize()
  const out = await packed
  const blob = gzipSync(out, {level: 6})
  blob[9] = 0xff
  return {blob, diffId: `sha256:${createHash('sha256').update(out).digest('hex')}`}
}

async function fileInTar(tarBytes: Buffer, path: string): Promise<string | undefined> {
  const extract = tar.extract()
  let found: string | undefined
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, body, next) => {
      const name = header.name.replace(/^\.?\//, '')
      if (name === path && header.type === 'file') {
        const chunks: Buffer[] = []
        body.on('data', (c: unknown) => chunks.push(c as Buffer))
        body.on('end', () => {
          found = Buffer.concat(chunks).toString('utf8')
          next()
        })
      } else {
        body.on('end', () => next())
        body.resume()
      }
    })
    extract.on('finish', () => resolve())
    extract.on('error', reject)
  })
  extract.end(tarBytes)
  await done
  return found
}
