// Unpacking image layers into a root filesystem directory, the way a container engine applies
// them: in order, each layer's entries over the tree so far, with the OCI whiteouts
// (`.wh.NAME` deletes NAME of lower layers, `.wh..wh..opq` empties its directory of lower
// content). Paths are resolved inside the root as a chroot would (a symlink in the tree can never
// send a write outside it). Owners, modes (set-id bits included), mtimes, symlinks and hard links
// are kept; device nodes are skipped (the guest mounts devtmpfs over /dev). Layers are plain tar,
// gzip-compressed tar (detected by its magic bytes, whatever the media type says) or refused.
import {
  chmodSync,
  closeSync,
  constants,
  linkSync,
  lchownSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeSync,
  type Stats,
} from 'node:fs'
import {posix} from 'node:path'
import {PassThrough, type Readable} from 'node:stream'
import {createGunzip} from 'node:zlib'
import tar from 'tar-stream'
import {ImageError} from './errors.js'

export const WHITEOUT_PREFIX = '.wh.'
export const OPAQUE_WHITEOUT = '.wh..wh..opq'

export interface UnpackStats {
  entries: number
  whiteouts: number
  skipped: number
}

/** Whether this process may set owners (root) — otherwise files keep the caller's owner. */
const canChown = typeof process.getuid === 'function' && process.getuid() === 0

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined
    throw e
  }
}

/** The normalised relative path of a tar entry name, or undefined for the root itself. */
export function entryPath(name: string): string | undefined {
  const parts: string[] = []
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue
    if (p === '..') {
      parts.pop() // clamped at the root, as a chroot would
      continue
    }
    parts.push(p)
  }
  return parts.length ? parts.join('/') : undefined
}

/**
 * Resolves a relative path inside `root` following the symlinks already in the tree, each one as
 * if `root` were `/`. The last component is not followed (it is what an entry creates or
 * replaces). Returns the host path.
 */
export function resolveInRoot(root: string, rel: string, followLast = false): string {
  let resolved: string[] = []
  let pending = rel.split('/').filter((p) => p !== '' && p !== '.')
  let hops = 0
  while (pending.length > 0) {
    const part = pending.shift()!
    if (part === '..') {
      resolved.pop()
      continue
    }
    const candidate = [...resolved, part]
    const isLast = pending.length === 0
    if (isLast && !followLast) {
      resolved = candidate
      break
    }
    const host = posix.join(root, ...candidate)
    const st = lstatOrUndefined(host)
    if (st?.isSymbolicLink()) {
      if (++hops > 40) throw new ImageError('IMAGE_LAYER', `too many levels of symbolic links resolving /${rel}`)
      const target = readlinkSync(host)
      const targetParts = target.split('/').filter((p) => p !== '' && p !== '.')
      if (target.startsWith('/')) resolved = []
      pending = [...targetParts, ...pending]
      continue
    }
    resolved = candidate
  }
  return posix.join(root, ...resolved)
}

function removeTree(path: string): void {
  rmSync(path, {recursive: true, force: true})
}

function emptyDir(dir: string): void {
  const st = lstatOrUndefined(dir)
  if (!st?.isDirectory()) return
  for (const name of readdirSync(dir)) removeTree(posix.join(dir, name))
}

function ensureParents(root: string, rel: string): void {
  const parent = posix.dirname(rel)
  if (parent === '.' || parent === '') return
  const host = resolveInRoot(root, parent, true)
  const st = lstatOrUndefined(host)
  if (st?.isDirectory()) return
  if (st) removeTree(host)
  ensureParents(root, posix.relative(root, host))
  mkdirSync(host, {mode: 0o755})
}

function setMeta(path: string, header: tar.Header, isLink: boolean): void {
  if (canChown) lchownSync(path, header.uid ?? 0, header.gid ?? 0)
  if (!isLink) chmodSync(path, (header.mode ?? 0o644) & 0o7777)
  const mtime = header.mtime ?? new Date(0)
  try {
    lutimesSync(path, mtime, mtime)
  } catch {
    /* some filesystems refuse times on symlinks */
  }
}

/** Peeks at the first bytes: gzip streams are decompressed, plain tar passes through. */
async function decompressed(source: Readable): Promise<Readable> {
  const out = new PassThrough({highWaterMark: 1 << 20})
  let decided = false
  let gunzip: ReturnType<typeof createGunzip> | undefined
  source.on('error', (e) => out.destroy(e))
  return new Promise((resolve, reject) => {
    const first = (chunk: Buffer) => {
      decided = true
      source.pause()
      source.off('data', first)
      if (chunk[0] === 0x1f && chunk[1] === 0x8b) {
        gunzip = createGunzip()
        gunzip.on('error', (e) => out.destroy(new ImageError('IMAGE_LAYER', `layer is not a valid gzip stream: ${e.message}`)))
        gunzip.pipe(out)
        gunzip.write(chunk)
        source.pipe(gunzip)
      } else if (chunk[0] === 0x28 && chunk[1] === 0xb5 && chunk[2] === 0x2f && chunk[3] === 0xfd) {
        reject(new ImageError('IMAGE_LAYER', 'zstd-compressed layers are not supported (re-push the image with gzip layers)'))
        return
      } else {
        out.write(chunk)
        source.pipe(out)
      }
      source.resume()
      resolve(out)
    }
    source.on('data', first)
    source.on('end', () => {
      if (!decided) {
        out.end()
        resolve(out)
      }
    })
    source.on('error', (e) => {
      if (!decided) reject(e)
    })
  })
}

/** Applies one layer (a tar or tar+gzip stream) over `root`. */
export async function applyLayer(root: string, source: Readable): Promise<UnpackStats> {
  const stats: UnpackStats = {entries: 0, whiteouts: 0, skipped: 0}
  const stream = await decompressed(source)
  const extract = tar.extract()
  stream.on('error', (e) => extract.destroy(e))
  stream.pipe(extract as unknown as NodeJS.WritableStream)
  /** Directories whose modes/times are set once their content is in (a read-only dir would block writes). */
  const dirs: Array<{path: string; header: tar.Header}> = []
  /** Paths this layer created: an opaque whiteout must not delete them. */
  const fromThisLayer = new Set<string>()
  for await (const entry of extract) {
    const h = entry.header
    const rel = entryPath(h.name)
    stats.entries++
    if (rel === undefined) {
      // the root directory itself
      if (h.type === 'directory') dirs.push({path: root, header: h})
      entry.resume()
      continue
    }
    const base = posix.basename(rel)
    const dirRel = posix.dirname(rel) === '.' ? '' : posix.dirname(rel)
    if (base === OPAQUE_WHITEOUT) {
      stats.whiteouts++
      const hostDir = dirRel ? resolveInRoot(root, dirRel, true) : root
      // Lower content goes; what this layer already wrote under it stays.
      pruneLower(hostDir, dirRel, fromThisLayer)
      entry.resume()
      continue
    }
    if (base.startsWith(WHITEOUT_PREFIX)) {
      stats.whiteouts++
      const victim = (dirRel ? `${dirRel}/` : '') + base.slice(WHITEOUT_PREFIX.length)
      removeTree(resolveInRoot(root, victim))
      entry.resume()
      continue
    }
    ensureParents(root, rel)
    const host = resolveInRoot(root, rel)
    const existing = lstatOrUndefined(host)
    fromThisLayer.add(rel)
    switch (h.type) {
      case 'directory': {
        if (existing && !existing.isDirectory()) removeTree(host)
        if (!existing?.isDirectory()) mkdirSync(host, {mode: 0o700})
        dirs.push({path: host, header: h})
        entry.resume()
        break
      }
      case 'file':
      case 'contiguous-file': {
        if (existing) removeTree(host)
        const fd = openSync(host, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
        try {
          for await (const chunk of entry) {
            let off = 0
            const buf = chunk as Buffer
            while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off)
          }
        } finally {
          closeSync(fd)
        }
        setMeta(host, h, false)
        break
      }
      case 'symlink': {
        if (existing) removeTree(host)
        symlinkSync(h.linkname ?? '', host)
        setMeta(host, h, true)
        entry.resume()
        break
      }
      case 'link': {
        const targetRel = entryPath(h.linkname ?? '')
        if (targetRel === undefined) throw new ImageError('IMAGE_LAYER', `hard link ${rel} has no target`)
        const target = resolveInRoot(root, targetRel)
        if (existing) removeTree(host)
        try {
          linkSync(target, host)
        } catch (e) {
          throw new ImageError('IMAGE_LAYER', `hard link ${rel} → ${targetRel}: ${(e as Error).message}`)
        }
        entry.resume()
        break
      }
      default:
        // character/block devices, FIFOs and anything else: not needed in a guest root.
        stats.skipped++
        fromThisLayer.delete(rel)
        entry.resume()
    }
  }
  // Deepest first, so a parent's mode never blocks setting a child's.
  dirs.sort((a, b) => b.path.length - a.path.length)
  for (const d of dirs) setMeta(d.path, d.header, false)
  return stats
}

/** Removes everything under hostDir that the current layer did not write. */
function pruneLower(hostDir: string, dirRel: string, keep: ReadonlySet<string>): void {
  const st = lstatOrUndefined(hostDir)
  if (!st?.isDirectory()) return
  for (const name of readdirSync(hostDir)) {
    const childRel = dirRel ? `${dirRel}/${name}` : name
    const child = posix.join(hostDir, name)
    if (!keep.has(childRel)) removeTree(child)
    else if (lstatOrUndefined(child)?.isDirectory()) pruneLower(child, childRel, keep)
  }
}

/** Empties a directory tree (used when an unpack fails half-way). */
export function clearDir(dir: string): void {
  emptyDir(dir)
}
