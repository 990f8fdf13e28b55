// Root filesystems for the guest: a minimal Debian made with mmdebstrap (tests, the sample agent
// kit), import of a `docker export`-style tarball as an agent image root, and the read-only ext4
// image (mke2fs -d) the qemu driver attaches with virtio-blk. All cached by their inputs.
import {execFile, spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {lstat, mkdir, mkdtemp, readdir, readlink, rename, rm} from 'node:fs/promises'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {cacheDir} from '../home.js'
import {VmError} from './errors.js'

const run = promisify(execFile)

export interface DebianRootfsOptions {
  /** Extra packages (minbase variant is the base). */
  packages: string[]
  suite?: string
  mirror?: string
  /** Where to keep built trees (default $KIT_HOME/cache/rootfs). */
  cacheRoot?: string
  env?: NodeJS.ProcessEnv
}

export const DEFAULT_SUITE = 'bookworm'
export const DEFAULT_MIRROR = 'http://deb.debian.org/debian'

/** Paths dpkg skips while installing: documentation is dead weight in a sandbox image. */
const PATH_EXCLUDES = ['/usr/share/man/*', '/usr/share/doc/*', '/usr/share/info/*', '/usr/share/locale/*', '/usr/share/lintian/*']

function tail(s: string | undefined, lines = 3): string {
  return String(s ?? '').trim().split('\n').slice(-lines).join(' | ')
}

/**
 * A minimal Debian root filesystem with `packages`, built once per input set with mmdebstrap
 * (minbase variant) into cacheRoot/debian-KEY/root and reused afterwards.
 */
export async function debianRootfs(opts: DebianRootfsOptions): Promise<string> {
  const suite = opts.suite ?? DEFAULT_SUITE
  const mirror = opts.mirror ?? DEFAULT_MIRROR
  const packages = [...new Set(opts.packages)].sort()
  const key = createHash('sha256').update(JSON.stringify({v: 1, suite, mirror, packages, PATH_EXCLUDES})).digest('hex').slice(0, 24)
  const base = opts.cacheRoot ?? join(cacheDir(opts.env), 'rootfs')
  const dest = join(base, `debian-${suite}-${key}`)
  if (existsSync(join(dest, 'root', 'etc', 'os-release'))) return join(dest, 'root')
  await mkdir(base, {recursive: true})
  const tmp = await mkdtemp(join(base, '.mmdebstrap-'))
  try {
    const args = ['--variant=minbase', '--quiet', '--mode=auto', ...PATH_EXCLUDES.map(p => `--dpkgopt=path-exclude=${p}`), '--dpkgopt=path-include=/usr/share/doc/*/copyright']
    if (packages.length) args.push(`--include=${packages.join(',')}`)
    args.push(suite, join(tmp, 'root'), mirror)
    await run('mmdebstrap', args, {maxBuffer: 64 << 20}).catch(error => {
      const e = error as {code?: string; stderr?: string; message: string}
      if (e.code === 'ENOENT') throw new VmError('ROOTFS', 'mmdebstrap is not installed (apt-get install mmdebstrap)')
      throw new VmError('ROOTFS', `mmdebstrap ${suite} failed: ${tail(e.stderr) || e.message}`)
    })
    const done = () => existsSync(join(dest, 'root', 'etc', 'os-release'))
    if (done()) {
      // Another process built the same tree meanwhile: keep the one in place.
      await rm(tmp, {recursive: true, force: true})
    } else {
      await rm(dest, {recursive: true, force: true})
      await rename(tmp, dest).catch(error => {
        if (!done()) throw error
        return rm(tmp, {recursive: true, force: true})
      })
    }
  } catch (error) {
    await rm(tmp, {recursive: true, force: true})
    throw error
  }
  return join(dest, 'root')
}

/**
 * Unpacks a flattened root filesystem tarball (`docker export` output, or any rootfs tar) into
 * dest, keeping numeric owners, modes, links and device nodes. dest must not exist; the tree
 * appears there only when complete.
 */
export async function importRootfsTar(tarPath: string, dest: string): Promise<string> {
  if (existsSync(dest)) throw new VmError('ROOTFS', `${dest} already exists`)
  const parent = join(dest, '..')
  await mkdir(parent, {recursive: true})
  const tmp = await mkdtemp(join(parent, '.import-'))
  try {
    await run('tar', ['--numeric-owner', '--same-owner', '-xpf', tarPath, '-C', tmp], {maxBuffer: 16 << 20}).catch(error => {
      throw new VmError('ROOTFS', `cannot unpack ${tarPath}: ${tail((error as {stderr?: string}).stderr) || (error as Error).message}`)
    })
    if (!existsSync(join(tmp, 'bin')) && !existsSync(join(tmp, 'usr'))) {
      throw new VmError('ROOTFS', `${tarPath} does not look like a root filesystem (no bin/ or usr/)`)
    }
    await rename(tmp, dest)
  } catch (error) {
    await rm(tmp, {recursive: true, force: true})
    throw error
  }
  return dest
}

/** A cheap identity of a tree: paths, types, modes, owners, sizes, mtimes, link targets. */
export async function treeKey(root: string): Promise<{key: string; bytes: number; entries: number}> {
  const h = createHash('sha256')
  let bytes = 0
  let entries = 0
  const walk = async (rel: string) => {
    const names = (await readdir(join(root, rel))).sort()
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name
      const p = join(root, r)
      const st = await lstat(p)
      entries++
      bytes += st.isFile() ? st.size : 0
      h.update(`${r}\0${st.mode}\0${st.uid}\0${st.gid}\0${st.size}\0${st.mtimeMs}\0`)
      if (st.isSymbolicLink()) h.update(await readlink(p))
      else if (st.isDirectory()) await walk(r)
    }
  }
  await walk('')
  return {key: h.digest('hex'), bytes, entries}
}

/** Bumped when the image's mke2fs options change (the guest kernel must be able to mount it). */
const IMAGE_FORMAT = 'ext4-nojournal-nocsum-1'

/**
 * A read-only ext4 image of `rootfs` (mke2fs -d), cached under cacheRoot by the tree's identity.
 * Under TCG a block device is far cheaper for the guest than 9p for many small reads.
 */
export async function rootfsImage(rootfs: string, opts: {id?: string; cacheRoot?: string; env?: NodeJS.ProcessEnv; progress?: (line: string) => void} = {}): Promise<string> {
  if (!existsSync(rootfs)) throw new VmError('ROOTFS', `root filesystem ${rootfs} does not exist`)
  const base = opts.cacheRoot ?? join(cacheDir(opts.env), 'rootfs-images')
  const byId = opts.id ? join(base, `id-${createHash('sha256').update(IMAGE_FORMAT + '\0' + opts.id).digest('hex').slice(0, 32)}.ext4`) : undefined
  if (byId && existsSync(byId)) return byId
  const tree = await treeKey(rootfs)
  const {bytes, entries} = tree
  const path = byId ?? join(base, `${createHash('sha256').update(IMAGE_FORMAT + '\0' + tree.key).digest('hex').slice(0, 32)}.ext4`)
  if (existsSync(path)) return path
  await mkdir(base, {recursive: true})
  // Room for the data, metadata and inodes; the image is sparse, so slack costs nothing on disk.
  const sizeMiB = Math.ceil((bytes * 1.3 + entries * 4096) / (1 << 20)) + 64
  opts.progress?.(`building root image (${(bytes / 1e6).toFixed(1)} MB, ${entries} files; once per image)`)
  const tmp = `${path}.${process.pid}.tmp`
  try {
    await new Promise<void>((resolve, reject) => {
      const p = spawn('mke2fs', ['-q', '-F', '-t', 'ext4', '-O', '^has_journal,^resize_inode,^metadata_csum', '-E', 'root_owner=0:0',
        '-N', String(entries + 4096), '-L', 'kitroot', '-d', rootfs, tmp, `${sizeMiB}M`], {stdio: ['ignore', 'ignore', 'pipe']})
      let err = ''
      p.stderr.on('data', d => (err += d))
      p.on('error', e => reject((e as NodeJS.ErrnoException).code === 'ENOENT' ? new VmError('ROOTFS', 'mke2fs is not installed (apt-get install e2fsprogs)') : e))
      p.on('close', code => (code === 0 ? resolve() : reject(new VmError('ROOTFS', `mke2fs -d ${rootfs} failed: ${tail(err)}`))))
    })
    await rename(tmp, path)
  } catch (error) {
    await rm(tmp, {force: true})
    throw error
  }
  return path
}
