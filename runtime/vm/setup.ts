// Set-up of the qemu driver, for the README and CI: fetch the Debian kernel (apt-get download +
// dpkg -x, unpacked once into the cache), build the initramfs, and optionally the test/sample
// Debian root filesystem. Idempotent; run as `node dist/runtime/vm/setup.js [--rootfs]`.
import {pathToFileURL} from 'node:url'
import {ensureInitramfs} from './initramfs.js'
import {ensureKernel, fetchKernel, Kernel} from './kernel.js'
import {pickAccel, qemuBinary} from './qemu.js'
import {debianRootfs} from './rootfs.js'

/** Packages of the minimal Debian agent image used by tests and the sample agent kit. */
export const SAMPLE_ROOTFS_PACKAGES = ['curl', 'git', 'ca-certificates']

export interface VmSetup {
  kernel: Kernel
  initramfs: string
  qemu?: string
  accel: string
  rootfs?: string
}

export async function setupVm(opts: {rootfs?: boolean; refresh?: boolean; env?: NodeJS.ProcessEnv} = {}): Promise<VmSetup> {
  const env = opts.env ?? process.env
  const kernel = opts.refresh && !env.KIT_KERNEL ? await fetchKernel(env) : await ensureKernel(env)
  const initramfs = await ensureInitramfs(kernel, env)
  const rootfs = opts.rootfs ? await debianRootfs({packages: SAMPLE_ROOTFS_PACKAGES, env}) : undefined
  return {kernel, initramfs: initramfs.path, qemu: qemuBinary(env), accel: pickAccel(env), rootfs}
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2)
  setupVm({rootfs: args.includes('--rootfs'), refresh: args.includes('--refresh')}).then(
    s => {
      console.log(`kernel     ${s.kernel.kernel} (${s.kernel.version})`)
      console.log(`modules    ${s.kernel.modulesDir}`)
      console.log(`initramfs  ${s.initramfs}`)
      if (s.rootfs) console.log(`rootfs     ${s.rootfs}`)
      console.log(`qemu       ${s.qemu ?? 'missing: apt-get install qemu-system-x86'} (accel: ${s.accel})`)
    },
    (e: Error & {code?: string}) => {
      console.error(`kit: ${e.message}`)
      process.exit(1)
    },
  )
}
