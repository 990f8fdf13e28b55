// The guest initramfs, built by our own code: busybox-static, the kernel modules the guest needs
// (in dependency order) and the kit init scripts, packed as cpio newc + gzip. The base archive is
// cached by content hash; each run appends a small second archive holding its plan (/kit/...).
import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {mkdir, readFile, rename, writeFile} from 'node:fs/promises'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {gzipSync} from 'node:zlib'
import {cacheDir} from '../home.js'
import {CpioEntry, cpioNewc} from './cpio.js'
import {VmError} from './errors.js'
import {Kernel, resolveModules, stripModuleSignature} from './kernel.js'

/** Modules loaded by the guest init, dependencies resolved from the .ko files. */
export const GUEST_MODULES = [
  'virtio_pci', 'virtio_mmio', 'virtio_console', 'virtio_blk', 'virtio_net',
  '9pnet_virtio', '9p', 'overlay', 'crc32c_generic', 'ext4',
]

/** Bumped when the layout of the initramfs changes. */
const FORMAT = 'kit-initramfs-2'

/** runtime/guest in the source tree (works from dist/runtime/vm and from runtime/vm). */
export function guestAssetsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'runtime', 'guest')
    if (existsSync(join(candidate, 'init.sh'))) return candidate
    dir = dirname(dir)
  }
  throw new VmError('INITRAMFS', 'runtime/guest/init.sh not found next to the kit installation')
}

export function busyboxPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.KIT_BUSYBOX || '/bin/busybox'
}

async function readBusybox(path: string): Promise<Buffer> {
  let data: Buffer
  try {
    data = await readFile(path)
  } catch {
    throw new VmError('INITRAMFS', `busybox not found at ${path} (install busybox-static, or set KIT_BUSYBOX)`)
  }
  // A dynamically linked ELF names its interpreter; the initramfs has no libc.
  if (data.subarray(0, 4).toString('latin1') !== '\x7fELF' || data.indexOf('/lib64/ld-linux') >= 0 || data.indexOf('ld-musl') >= 0) {
    throw new VmError('INITRAMFS', `${path} is not a statically linked busybox (install busybox-static, or set KIT_BUSYBOX)`)
  }
  return data
}

export interface Initramfs {
  path: string
  key: string
}

/** The base initramfs for a kernel: built once per content hash under $KIT_HOME/cache/initramfs. */
export async function ensureInitramfs(kernel: Kernel, env: NodeJS.ProcessEnv = process.env): Promise<Initramfs> {
  const assets = guestAssetsDir()
  const [busybox, init, stage2, modules] = await Promise.all([
    readBusybox(busyboxPath(env)),
    readFile(join(assets, 'init.sh')),
    readFile(join(assets, 'stage2.sh')),
    resolveModules(kernel.modulesDir, GUEST_MODULES),
  ])
  const h = createHash('sha256')
  h.update(FORMAT).update('\0').update(kernel.version).update('\0')
  for (const part of [busybox, init, stage2]) h.update(createHash('sha256').update(part).digest())
  for (const m of modules) h.update(m.path).update('\0').update(createHash('sha256').update(m.data).digest())
  const key = h.digest('hex')
  const dir = join(cacheDir(env), 'initramfs')
  const path = join(dir, `${key.slice(0, 32)}.cpio.gz`)
  if (existsSync(path)) return {path, key}

  const entries: CpioEntry[] = [
    {type: 'dir', path: 'bin'},
    {type: 'dir', path: 'dev'},
    {type: 'chardev', path: 'dev/console', major: 5, minor: 1},
    {type: 'chardev', path: 'dev/null', major: 1, minor: 3, mode: 0o666},
    {type: 'dir', path: 'proc'},
    {type: 'dir', path: 'sys'},
    {type: 'dir', path: 'lib'},
    {type: 'dir', path: 'lib/kit'},
    {type: 'dir', path: 'lib/modules'},
    {type: 'file', path: 'bin/busybox', data: busybox, mode: 0o755},
    {type: 'symlink', path: 'bin/sh', target: 'busybox'},
    {type: 'file', path: 'init', data: init, mode: 0o755},
    {type: 'file', path: 'lib/kit/stage2.sh', data: stage2, mode: 0o644},
    {type: 'file', path: 'lib/kit/modules.list', data: modules.map(m => m.name + '.ko').join('\n') + '\n'},
    ...modules.map((m): CpioEntry => ({type: 'file', path: `lib/modules/${m.name}.ko`, data: stripModuleSignature(m.data)})),
  ]
  const archive = gzipSync(cpioNewc(entries), {level: 6})
  await mkdir(dir, {recursive: true})
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, archive)
  await rename(tmp, path)
  return {path, key}
}

/** The per-run archive: the compiled plan under /kit (appended after the base archive). */
export function planArchive(files: Map<string, {data: string; mode: number}>): Buffer {
  const entries: CpioEntry[] = [{type: 'dir', path: 'kit', mode: 0o700}]
  const dirs = new Set<string>()
  for (const name of [...files.keys()].sort()) {
    const parts = name.split('/')
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/')
      if (!dirs.has(d)) {
        dirs.add(d)
        entries.push({type: 'dir', path: `kit/${d}`, mode: 0o700})
      }
    }
    const f = files.get(name) as {data: string; mode: number}
    entries.push({type: 'file', path: `kit/${name}`, data: f.data, mode: f.mode})
  }
  return gzipSync(cpioNewc(entries), {level: 1})
}
