// Agent images from a local Docker engine (optional): when the engine answers and has the image,
// `docker save` of it is read and its layers, config and a new OCI manifest go into the local
// store under the same reference. Nothing here needs the engine to exist: without a socket the
// caller moves on.
import {createHash} from 'node:crypto'
import {createReadStream, createWriteStream, existsSync} from 'node:fs'
import {mkdir, mkdtemp, readFile, rm} from 'node:fs/promises'
import {join} from 'node:path'
import {pipeline} from 'node:stream/promises'
import {Transform} from 'node:stream'
import tar from 'tar-stream'
import {describe, type Descriptor, MediaType} from '../../registry-client/descriptor.js'
import type {OciLayoutStore} from '../../registry-client/layout-store.js'
import {cacheDir} from '../home.js'
import {ImageError} from './errors.js'

/** The engine's socket: DOCKER_HOST=unix://... or the default path. */
export function dockerSocket(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const host = env.DOCKER_HOST
  if (host) return host.startsWith('unix://') ? host.slice('unix://'.length) : undefined
  return existsSync('/var/run/docker.sock') ? '/var/run/docker.sock' : undefined
}

interface SaveManifest {
  Config: string
  RepoTags?: string[]
  Layers: string[]
}

/**
 * Imports `reference` from the local Docker engine into the store. Returns undefined when there is
 * no engine or it does not have the image.
 */
export async function importFromDocker(store: OciLayoutStore, reference: string, env: NodeJS.ProcessEnv = process.env): Promise<Descriptor | undefined> {
  const socketPath = dockerSocket(env)
  if (!socketPath || !existsSync(socketPath)) return undefined
  const {default: Docker} = await import('dockerode')
  const docker = new Docker({socketPath})
  try {
    await docker.ping()
  } catch {
    return undefined
  }
  const image = docker.getImage(reference)
  try {
    await image.inspect()
  } catch {
    return undefined
  }
  const tmpBase = join(cacheDir(env), 'tmp')
  await mkdir(tmpBase, {recursive: true})
  const tmp = await mkdtemp(join(tmpBase, 'docker-'))
  try {
    const saved = (await image.get()) as NodeJS.ReadableStream
    const extract = tar.extract()
    const files = new Map<string, {path: string; digest: string; size: number}>()
    let n = 0
    const reading = (async () => {
      for await (const entry of extract) {
        if (entry.header.type !== 'file') {
          entry.resume()
          continue
        }
        const path = join(tmp, String(n++))
        const hash = createHash('sha256')
        let size = 0
        await pipeline(entry, new Transform({transform(c: Buffer, _e, cb) { hash.update(c); size += c.length; cb(null, c) }}), createWriteStream(path))
        files.set(entry.header.name, {path, digest: `sha256:${hash.digest('hex')}`, size})
      }
    })()
    await Promise.all([pipeline(saved, extract as unknown as NodeJS.WritableStream), reading])
    const mf = files.get('manifest.json')
    if (!mf) throw new ImageError('IMAGE_DOCKER', `${reference}: docker save output has no manifest.json`)
    const saveManifest = (JSON.parse(await readFile(mf.path, 'utf8')) as SaveManifest[])[0]
    if (!saveManifest) throw new ImageError('IMAGE_DOCKER', `${reference}: docker save output lists no image`)
    const layers: Descriptor[] = []
    for (const name of saveManifest.Layers) {
      const f = files.get(name)
      if (!f) throw new ImageError('IMAGE_DOCKER', `${reference}: docker save output lacks ${name}`)
      const d: Descriptor = {mediaType: MediaType.OciLayerTar, digest: f.digest, size: f.size}
      if (!(await store.exists(d))) await store.push(d, createReadStream(f.path))
      layers.push(d)
    }
    const cf = files.get(saveManifest.Config)
    if (!cf) throw new ImageError('IMAGE_DOCKER', `${reference}: docker save output lacks its config`)
    const configBytes = await readFile(cf.path)
    const config = describe(MediaType.OciConfig, configBytes)
    await store.push(config, configBytes)
    const manifestBytes = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers}))
    const manifest = describe(MediaType.OciManifest, manifestBytes)
    await store.push(manifest, manifestBytes)
    await store.tag(manifest, reference)
    return manifest
  } catch (e) {
    if (e instanceof ImageError) throw e
    throw new ImageError('IMAGE_DOCKER', `${reference}: cannot import from the Docker engine: ${(e as Error).message}`)
  } finally {
    await rm(tmp, {recursive: true, force: true})
  }
}
