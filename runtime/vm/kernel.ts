// The guest kernel: Debian's linux-image-<abi>-amd64 package, downloaded with apt and unpacked
// (dpkg -x) into the cache, or a kernel the user names with KIT_KERNEL / KIT_KERNEL_MODULES.
// Modules are resolved from the `depends=` field inside each .ko (the package ships no modules.dep).
import {execFile, spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {cacheDir} from '../home.js'
import {VmError} from './errors.js'

const run = promisify(execFile)

export interface Kernel {
  /** What QEMU boots: the uncompressed ELF (PVH entry, no in-guest decompression) when there is one, else the bzImage. */
  kernel: string
  /** The bzImage (boot/vmlinuz-VERSION). */
  bzImage: string
  /** lib/modules/VERSION */
  modulesDir: string
  version: string
}

/** The meta package whose dependency names the current kernel ABI. */
export const KERNEL_META_PACKAGE = 'linux-image-amd64'

function kernelCache(env: NodeJS.ProcessEnv): string {
  return join(cacheDir(env), 'kernel')
}

async function fromDir(root: string): Promise<Kernel | undefined> {
  const boot = join(root, 'boot')
  const mods = join(root, 'lib', 'modules')
  if (!existsSync(boot) || !existsSync(mods)) return undefined
  const vmlinuz = (await readdir(boot)).find(f => f.startsWith('vmlinuz-'))
  if (!vmlinuz) return undefined
  const version = vmlinuz.slice('vmlinuz-'.length)
  if (!existsSync(join(mods, version))) return undefined
  const bzImage = join(boot, vmlinuz)
  const elf = join(boot, `vmlinux-${version}`)
  return {kernel: existsSync(elf) ? elf : bzImage, bzImage, modulesDir: join(mods, version), version}
}

/**
 * Writes the uncompressed kernel (an ELF with a PVH entry note) next to the bzImage. Under TCG the
 * guest spends seconds decompressing an xz bzImage; QEMU loads the ELF directly instead. Returns
 * undefined (and the bzImage is booted) when the kernel lacks PVH or the payload cannot be unpacked.
 */
export async function extractVmlinux(root: string): Promise<string | undefined> {
  const k = await fromDir(root)
  if (!k) return undefined
  const out = join(root, 'boot', `vmlinux-${k.version}`)
  if (existsSync(out)) return out
  const config = await readFile(join(root, 'boot', `config-${k.version}`), 'utf8').catch(() => '')
  if (!/^CONFIG_PVH=y$/m.test(config)) return undefined
  const bz = await readFile(k.bzImage)
  if (bz.length < 0x250 || bz.readUInt32LE(0x202) !== 0x53726448 /* "HdrS" */) return undefined
  const setupSects = bz[0x1f1] || 4
  const start = (setupSects + 1) * 512 + bz.readUInt32LE(0x248)
  const payload = bz.subarray(start, start + bz.readUInt32LE(0x24c))
  let tool: string[] | undefined
  if (payload.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) tool = ['xz', '-dc']
  else if (payload.readUInt32LE(0) === 0xfd2fb528) tool = ['zstd', '-dcq']
  else if (payload[0] === 0x1f && payload[1] === 0x8b) tool = ['gzip', '-dc']
  if (!tool) return undefined
  const tmp = `${out}.${process.pid}.tmp`
  try {
    await new Promise<void>((resolveRun, reject) => {
      const p = spawn(tool[0], tool.slice(1), {stdio: ['pipe', 'pipe', 'ignore']})
      const chunks: Buffer[] = []
      p.stdout.on('data', (c: Buffer) => chunks.push(c))
      p.on('error', reject)
      p.on('close', async code => {
        const elf = Buffer.concat(chunks)
        // The kernel build appends the uncompressed size (4 bytes, LE) to the stream, which the
        // decompressors report as trailing input: trust the output when its size matches.
        const expected = payload.readUInt32LE(payload.length - 4)
        if (elf.length !== expected || elf.subarray(0, 4).toString('latin1') !== '\x7fELF') return reject(new Error(`${tool[0]} exited ${code}`))
        try {
          await writeFile(tmp, elf)
          resolveRun()
        } catch (e) {
          reject(e)
        }
      })
      p.stdin.on('error', () => {})
      p.stdin.end(payload)
    })
    await rename(tmp, out)
    return out
  } catch {
    await rm(tmp, {force: true})
    return undefined
  }
}

/**
 * The kernel to boot, without touching the network when one is cached: KIT_KERNEL (with
 * KIT_KERNEL_MODULES, a lib/modules/VERSION directory or a root holding lib/modules/VERSION), else
 * the cached Debian kernel, else fetchKernel().
 */
export async function ensureKernel(env: NodeJS.ProcessEnv = process.env, progress?: (line: string) => void): Promise<Kernel> {
  if (env.KIT_KERNEL) {
    const mods = env.KIT_KERNEL_MODULES
    if (!mods) throw new VmError('KERNEL_CONFIG', 'KIT_KERNEL is set but KIT_KERNEL_MODULES is not (a lib/modules/VERSION directory)')
    if (!existsSync(env.KIT_KERNEL)) throw new VmError('KERNEL_CONFIG', `KIT_KERNEL: no such file: ${env.KIT_KERNEL}`)
    let modulesDir = mods
    if (!existsSync(join(mods, 'kernel')) && existsSync(join(mods, 'lib', 'modules'))) {
      const versions = await readdir(join(mods, 'lib', 'modules'))
      if (versions.length !== 1) throw new VmError('KERNEL_CONFIG', `KIT_KERNEL_MODULES: expected one version under ${join(mods, 'lib', 'modules')}`)
      modulesDir = join(mods, 'lib', 'modules', versions[0])
    }
    if (!existsSync(join(modulesDir, 'kernel'))) throw new VmError('KERNEL_CONFIG', `KIT_KERNEL_MODULES: ${modulesDir} has no kernel/ directory`)
    return {kernel: env.KIT_KERNEL, bzImage: env.KIT_KERNEL, modulesDir, version: modulesDir.split('/').pop() as string}
  }
  const current = join(kernelCache(env), 'current')
  if (existsSync(current)) {
    const name = (await readFile(current, 'utf8')).trim()
    const dir = join(kernelCache(env), name)
    if (await fromDir(dir)) {
      await extractVmlinux(dir)
      return (await fromDir(dir)) as Kernel
    }
  }
  return fetchKernel(env, progress)
}

async function aptCandidate(): Promise<{pkg: string; version: string}> {
  let pkg: string | undefined
  try {
    const {stdout} = await run('apt-cache', ['depends', KERNEL_META_PACKAGE])
    pkg = /Depends:\s+(linux-image-[0-9][^\s]*-amd64)\b/.exec(stdout)?.[1]
  } catch (error) {
    throw new VmError('KERNEL_FETCH', `apt-cache depends ${KERNEL_META_PACKAGE} failed: ${(error as Error).message.split('\n')[0]} (set KIT_KERNEL and KIT_KERNEL_MODULES to use your own kernel)`)
  }
  if (!pkg) throw new VmError('KERNEL_FETCH', `apt-cache names no linux-image-*-amd64 for ${KERNEL_META_PACKAGE} (run apt-get update, or set KIT_KERNEL)`)
  const {stdout} = await run('apt-cache', ['show', '--no-all-versions', pkg])
  const version = /^Version:\s*(\S+)/m.exec(stdout)?.[1]
  if (!version) throw new VmError('KERNEL_FETCH', `apt-cache show ${pkg}: no Version`)
  return {pkg, version}
}

/**
 * Downloads the current Debian kernel package (apt-get download) and unpacks it (dpkg -x) into
 * $KIT_HOME/cache/kernel/PKG_VERSION. Idempotent: a kernel already unpacked is reused.
 */
export async function fetchKernel(env: NodeJS.ProcessEnv = process.env, progress?: (line: string) => void): Promise<Kernel> {
  const {pkg, version} = await aptCandidate()
  const base = kernelCache(env)
  const name = `${pkg}_${version}`.replace(/[^A-Za-z0-9._+-]/g, '_')
  const dest = join(base, name)
  await mkdir(base, {recursive: true})
  let k = await fromDir(dest)
  if (!k) {
    progress?.(`fetching kernel ${pkg} ${version} (apt-get download, once per kernel)`)
    const tmp = await mkdtemp(join(base, '.fetch-'))
    try {
      await run('apt-get', ['download', '-q', `${pkg}=${version}`], {cwd: tmp, maxBuffer: 16 << 20}).catch(error => {
        throw new VmError('KERNEL_FETCH', `apt-get download ${pkg}=${version} failed: ${String((error as {stderr?: string}).stderr || (error as Error).message).trim().split('\n').pop()}`)
      })
      const deb = (await readdir(tmp)).find(f => f.endsWith('.deb'))
      if (!deb) throw new VmError('KERNEL_FETCH', `apt-get download ${pkg} produced no .deb`)
      const root = join(tmp, 'root')
      await run('dpkg', ['-x', join(tmp, deb), root], {maxBuffer: 16 << 20})
      // Keep only what booting needs: the kernel image and the modules a VM can use.
      await rm(join(root, 'usr'), {recursive: true, force: true})
      await pruneModules(root)
      if (!(await fromDir(root))) throw new VmError('KERNEL_FETCH', `${deb} holds no boot/vmlinuz-* with lib/modules`)
      // Another process may have finished the same kernel meanwhile: keep the one in place.
      if (!(await fromDir(dest))) {
        await rm(dest, {recursive: true, force: true})
        await rename(root, dest).catch(async error => {
          if (!(await fromDir(dest))) throw error
        })
      }
    } finally {
      await rm(tmp, {recursive: true, force: true})
    }
    await extractVmlinux(dest)
    k = await fromDir(dest)
    if (!k) throw new VmError('KERNEL_FETCH', `unpacked kernel at ${dest} is incomplete`)
  }
  const currentTmp = join(base, `.current-${process.pid}`)
  await writeFile(currentTmp, name + '\n')
  await rename(currentTmp, join(base, 'current'))
  return k
}

/**
 * Drops the hardware drivers a VM never loads (GPUs, wireless, media, ...: most of the package's
 * 400 MB). Kept: fs, net, crypto, lib, arch, and under drivers/ virtio, block, char and the top
 * level of drivers/net (virtio_net, net_failover).
 */
async function pruneModules(root: string): Promise<void> {
  const mods = join(root, 'lib', 'modules')
  for (const version of await readdir(mods)) {
    const drivers = join(mods, version, 'kernel', 'drivers')
    if (!existsSync(drivers)) continue
    for (const e of await readdir(drivers, {withFileTypes: true})) {
      if (e.isDirectory() && !['virtio', 'block', 'char', 'net'].includes(e.name)) await rm(join(drivers, e.name), {recursive: true, force: true})
    }
    const net = join(drivers, 'net')
    if (existsSync(net)) {
      for (const e of await readdir(net, {withFileTypes: true})) {
        if (e.isDirectory()) await rm(join(net, e.name), {recursive: true, force: true})
      }
    }
  }
}

/** Module name as the kernel spells it (dashes become underscores). */
function modName(file: string): string {
  return file.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_')
}

async function indexModules(dir: string, rel = '', out = new Map<string, string>()): Promise<Map<string, string>> {
  for (const e of await readdir(join(dir, rel), {withFileTypes: true})) {
    const r = rel ? `${rel}/${e.name}` : e.name
    if (e.isDirectory()) await indexModules(dir, r, out)
    else if (/\.ko$/.test(e.name)) out.set(modName(e.name), r)
  }
  return out
}

function dependsOf(ko: Buffer): string[] {
  const marker = Buffer.from('\0depends=')
  const at = ko.indexOf(marker)
  if (at < 0) return []
  const start = at + marker.length
  const end = ko.indexOf(0, start)
  const s = ko.subarray(start, end).toString('utf8')
  return s ? s.split(',').map(x => x.replace(/-/g, '_')) : []
}

const SIG_MAGIC = Buffer.from('~Module signature appended~\n')

/**
 * The module without its appended signature. The guest kernel does not enforce signatures (no
 * lockdown); verifying them costs tens of milliseconds per module under TCG.
 */
export function stripModuleSignature(ko: Buffer): Buffer {
  if (ko.length < SIG_MAGIC.length + 12 || !ko.subarray(ko.length - SIG_MAGIC.length).equals(SIG_MAGIC)) return ko
  // struct module_signature (12 bytes) precedes the magic; sig_len is its last field, big-endian.
  const info = ko.length - SIG_MAGIC.length - 12
  const sigLen = ko.readUInt32BE(info + 8)
  const end = info - sigLen
  return end > 0 ? ko.subarray(0, end) : ko
}

export interface ResolvedModule {
  name: string
  /** Path relative to the modules dir (kernel/...). */
  path: string
  data: Buffer
}

/**
 * The .ko files for `wanted` and their dependencies, in load order (dependencies first).
 * Modules built into the kernel (modules.builtin) are skipped; unknown ones are an error.
 */
export async function resolveModules(modulesDir: string, wanted: string[]): Promise<ResolvedModule[]> {
  const index = await indexModules(join(modulesDir, 'kernel'))
  const builtin = new Set<string>()
  try {
    for (const line of (await readFile(join(modulesDir, 'modules.builtin'), 'utf8')).split('\n')) {
      if (line) builtin.add(modName(line.split('/').pop() as string))
    }
  } catch {}
  const order: ResolvedModule[] = []
  const state = new Map<string, 'visiting' | 'done'>()
  const visit = async (name: string, chain: string[]) => {
    const n = name.replace(/-/g, '_')
    if (state.get(n) === 'done') return
    if (state.get(n) === 'visiting') throw new VmError('KERNEL_MODULES', `module dependency cycle: ${[...chain, n].join(' -> ')}`)
    const rel = index.get(n)
    if (!rel) {
      if (builtin.has(n)) {
        state.set(n, 'done')
        return
      }
      throw new VmError('KERNEL_MODULES', `kernel module ${n} not found under ${modulesDir}`)
    }
    state.set(n, 'visiting')
    const data = await readFile(join(modulesDir, 'kernel', rel))
    for (const d of dependsOf(data)) await visit(d, [...chain, n])
    state.set(n, 'done')
    order.push({name: n, path: `kernel/${rel}`, data})
  }
  for (const w of wanted) await visit(w, [])
  return order
}

/** True when a kernel file exists and is readable (for doctor-style checks). */
export async function kernelPresent(k: Kernel): Promise<boolean> {
  try {
    return (await stat(k.kernel)).isFile() && (await stat(k.modulesDir)).isDirectory()
  } catch {
    return false
  }
}
