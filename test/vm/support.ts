// Shared by the VM tests: one kernel and one Debian root filesystem (curl, git, CA certificates)
// per machine, cached under the OS temp dir keyed by their inputs, so test files (and CI runs on
// one machine) build them once. Each test file still gets its own KIT_HOME.
import {execFileSync} from 'node:child_process'
import {copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {ensureKernel} from '../../runtime/vm/kernel.js'
import {qemuBinary} from '../../runtime/vm/qemu.js'
import {debianRootfs} from '../../runtime/vm/rootfs.js'

export const SHARED_CACHE = join(tmpdir(), 'kit-test-vm-cache')

/** Why VM tests cannot run here, or undefined. */
export function vmSkipReason(): string | undefined {
  if (!qemuBinary()) return 'qemu-system-x86_64 is not installed (scripts/install-deps.sh installs qemu-system-x86)'
  return undefined
}

export interface VmTestAssets {
  /** Environment for the driver: its own KIT_HOME, the shared kernel. */
  env: NodeJS.ProcessEnv
  rootfs: string
  imageCacheDir: string
  kitHome: string
}

let shared: Promise<{kernel: string; modules: string; rootfs: string}> | undefined

export async function vmTestAssets(): Promise<VmTestAssets> {
  shared ??= (async () => {
    const cacheEnv: NodeJS.ProcessEnv = {...process.env, KIT_HOME: join(SHARED_CACHE, 'home')}
    delete cacheEnv.KIT_KERNEL
    const k = process.env.KIT_KERNEL ? await ensureKernel(process.env) : await ensureKernel(cacheEnv)
    const rootfs = await debianRootfs({packages: ['curl', 'git', 'ca-certificates'], cacheRoot: join(SHARED_CACHE, 'rootfs')})
    return {kernel: k.kernel, modules: k.modulesDir, rootfs}
  })()
  const s = await shared
  const kitHome = mkdtempSync(join(tmpdir(), 'kit-test-vm-home-'))
  const env: NodeJS.ProcessEnv = {...process.env, KIT_HOME: kitHome, KIT_KERNEL: s.kernel, KIT_KERNEL_MODULES: s.modules}
  // The driver's KVM probe (first run per KIT_HOME) is shared across test files through this file.
  if (!env.KIT_VM_ACCEL && existsSync(join(SHARED_CACHE, 'kvm-verdict'))) env.KIT_VM_ACCEL = readFileSync(join(SHARED_CACHE, 'kvm-verdict'), 'utf8').trim()
  return {
    env,
    rootfs: s.rootfs,
    imageCacheDir: join(SHARED_CACHE, 'images'),
    kitHome,
  }
}

/** Keeps the KVM-or-TCG verdict of a test's KIT_HOME for the next test files. */
export function shareAccelVerdict(assets: VmTestAssets): void {
  const v = join(assets.kitHome, 'cache', 'kvm-verdict')
  if (existsSync(v)) copyFileSync(v, join(SHARED_CACHE, 'kvm-verdict'))
}

/** PIDs of processes whose command line mentions `needle` (to prove nothing was left behind). */
export function processesMentioning(needle: string): number[] {
  const found: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8')
      if (cmd.includes(needle)) found.push(Number(d))
    } catch {}
  }
  return found
}

/** A throwaway self-signed CA certificate (PEM) made with openssl, standing in for the proxy CA. */
export function testCaPem(dir: string): string {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=kit test proxy CA', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem')], {stdio: 'ignore'})
  return readFileSync(join(dir, 'ca.pem'), 'utf8')
}
