// The agent image in the engine: the runtime's unpacked root filesystem (cached by digest) is
// imported once as `kit-rootfs:<hex of the digest>` (a tar stream of the directory, numeric owners
// kept) and reused by every later run: the engine's copy is found by its tag.
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {realpath, stat} from 'node:fs/promises'
import type Docker from 'dockerode'
import {DockerError} from './errors.js'
import {engineMessage, LABEL_ROOTFS} from './engine.js'

export const IMAGE_REPO = 'kit-rootfs'

/** The engine's name for a root filesystem: its digest's hex, or a hash of its path and mtime. */
export async function rootfsTag(rootfs: string, id?: string): Promise<{tag: string; id: string}> {
  if (id && /^sha256:[0-9a-f]{64}$/.test(id)) return {tag: `${IMAGE_REPO}:${id.slice(7)}`, id}
  const real = await realpath(rootfs)
  const st = await stat(real)
  const hex = createHash('sha256').update(`${id ?? ''}\0${real}\0${st.mtimeMs}`).digest('hex')
  return {tag: `${IMAGE_REPO}:p${hex.slice(0, 63)}`, id: id ?? `path:${real}`}
}

/** The image of `rootfs` in the engine, imported when the engine does not have it yet. */
export async function ensureRootfsImage(docker: Docker, rootfs: string, id?: string, progress?: (l: string) => void): Promise<{tag: string; imported: boolean}> {
  const {tag, id: label} = await rootfsTag(rootfs, id)
  try {
    await docker.getImage(tag).inspect()
    return {tag, imported: false}
  } catch (e) {
    if ((e as {statusCode?: number}).statusCode !== 404) throw new DockerError('DOCKER_ENGINE', `cannot inspect image ${tag}: ${engineMessage(e)}`)
  }
  progress?.(`importing the agent image into the Docker engine as ${tag} (once)`)
  const tar = spawn('tar', ['--numeric-owner', '--xattrs', '-C', rootfs, '-cf', '-', '.'], {stdio: ['ignore', 'pipe', 'pipe']})
  let tarErr = ''
  tar.stderr.on('data', (d: Buffer) => (tarErr = (tarErr + d.toString()).slice(-2000)))
  const tarDone = new Promise<number>((r) => {
    tar.on('close', (code) => r(code ?? -1))
    tar.on('error', () => r(-1))
  })
  const [repo, tagName] = tag.split(':') as [string, string]
  try {
    const stream = await docker.importImage(tar.stdout, {repo, tag: tagName, changes: [`LABEL ${LABEL_ROOTFS}=${label}`]} as {})
    await new Promise<void>((resolveP, reject) => {
      docker.modem.followProgress(stream, (err: Error | null, out: Array<{error?: string}>) => {
        const failed = err ?? out.find((o) => o.error)
        if (failed) reject(new Error(err ? err.message : (failed as {error: string}).error))
        else resolveP()
      })
    })
  } catch (e) {
    tar.kill('SIGKILL')
    throw new DockerError('DOCKER_IMAGE', `cannot import ${rootfs} into the Docker engine: ${engineMessage(e)}`)
  }
  const code = await tarDone
  if (code !== 0) {
    await docker.getImage(tag).remove({force: true}).catch(() => {})
    throw new DockerError('DOCKER_IMAGE', `tar of ${rootfs} failed (exit ${code}): ${tarErr.trim().split('\n').pop() ?? ''}`)
  }
  return {tag, imported: true}
}
