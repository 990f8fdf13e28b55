// Benchmark of the qemu driver: cold and warm start to the command's first instruction, and the
// RSS of an idle VM, each against a baseline measured in the same run (a bare kernel boot to a
// trivial init; an idle QEMU with no guest). Run through bench/runtime/run.sh.
import {spawn, execFileSync} from 'node:child_process'
import {mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'
import {cpioNewc} from '../../dist/runtime/vm/cpio.js'
import {QemuDriver, kernelCmdline, qemuBinary} from '../../dist/runtime/vm/qemu.js'
import {debianRootfs} from '../../dist/runtime/vm/rootfs.js'
import {setupVm, SAMPLE_ROOTFS_PACKAGES} from '../../dist/runtime/vm/setup.js'

const RUNS = Number(process.env.BENCH_RUNS || 3)
const accel = process.env.KIT_VM_ACCEL || 'tcg'
const shared = join(tmpdir(), 'kit-test-vm-cache')
const work = mkdtempSync(join(tmpdir(), 'kit-bench-runtime-'))
const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = ms => `${(ms / 1000).toFixed(2)} s`

// Kernel (shared with the tests' cache so the download is not part of a cold start).
const kernelHome = join(shared, 'home')
const {kernel} = await setupVm({env: {...process.env, KIT_HOME: kernelHome}})
const rootfs = await debianRootfs({packages: SAMPLE_ROOTFS_PACKAGES, cacheRoot: join(shared, 'rootfs')})
const qemu = qemuBinary()

// Baseline 1: bare boot of the same kernel, same machine and kernel command line, to an init that
// leaves at once: the floor that the sandbox's own init, mounts and plan add to.
const bareInit = join(work, 'bare.cpio.gz')
writeFileSync(bareInit, gzipSync(cpioNewc([
  {type: 'dir', path: 'bin'}, {type: 'dir', path: 'dev'},
  {type: 'chardev', path: 'dev/console', major: 5, minor: 1},
  {type: 'file', path: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755},
  {type: 'file', path: 'init', data: '#!/bin/busybox sh\n/bin/busybox reboot -f\n', mode: 0o755},
])))
const bareArgs = ['-nodefaults', '-no-user-config', '-nographic', '-no-reboot', '-machine', `pc,accel=${accel}`,
  '-cpu', accel === 'kvm' ? 'host' : 'max', '-smp', '2', '-m', '1024M', '-kernel', kernel.kernel, '-initrd', bareInit,
  '-append', kernelCmdline(accel, []), '-serial', 'null']
const bare = []
for (let i = 0; i < RUNS; i++) {
  const t = Date.now()
  execFileSync(qemu, bareArgs, {stdio: 'ignore'})
  bare.push(Date.now() - t)
}

// Cold: a fresh KIT_HOME (no initramfs, no root image); warm: the same KIT_HOME again.
const env = {...process.env, KIT_VM_ACCEL: accel, KIT_KERNEL: kernel.kernel, KIT_KERNEL_MODULES: kernel.modulesDir}
const ws = join(work, 'ws')
mkdirSync(ws)
const spec = {name: 'bench', rootfs, rootfsId: `bench-${process.pid}`, kitLayers: [], workspace: ws, env: {}, plan: {install: [], files: [], startup: []}, command: ['true']}
const cold = []
for (let i = 0; i < RUNS; i++) {
  const home = join(work, `cold-${i}`)
  const r = await new QemuDriver({imageCacheDir: join(home, 'images')}).run(spec, {env: {...env, KIT_HOME: home}})
  cold.push(r)
}
const warmHome = join(work, 'cold-0')
const warm = []
for (let i = 0; i < RUNS; i++) warm.push(await new QemuDriver({imageCacheDir: join(warmHome, 'images')}).run(spec, {env: {...env, KIT_HOME: warmHome}}))
const first = r => r.prepMs + r.bootMs

// Memory: RSS of the QEMU of an idle sandbox vs an idle QEMU with no guest (-S, same memory size).
function qemuPids(needle) {
  return readdirSync('/proc').filter(d => /^\d+$/.test(d)).filter(d => {
    try {
      const c = readFileSync(`/proc/${d}/cmdline`, 'utf8')
      return c.includes(needle) && c.split('\0')[0].endsWith('qemu-system-x86_64')
    } catch { return false }
  })
}
const rssKiB = pid => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0)
let idleRss = 0
{
  const {Writable} = await import('node:stream')
  let sampled
  const sampledP = new Promise(r => (sampled = r))
  const stdout = new Writable({write(chunk, _e, cb) {
    if (String(chunk).includes('ready')) setTimeout(() => {
      idleRss = qemuPids(ws).map(rssKiB).reduce((a, b) => a + b, 0)
      sampled()
    }, 3000)
    cb()
  }})
  await Promise.all([
    new QemuDriver({imageCacheDir: join(warmHome, 'images')}).run({...spec, command: ['sh', '-c', 'echo ready; sleep 8']}, {env: {...env, KIT_HOME: warmHome}, stdout}),
    sampledP,
  ])
}
const bareQemu = spawn(qemu, ['-nodefaults', '-no-user-config', '-display', 'none', '-S', '-machine', `pc,accel=${accel}`, '-m', '1024M', '-monitor', 'none', '-name', `bench-idle-${process.pid}`], {stdio: 'ignore'})
await new Promise(r => setTimeout(r, 2000))
const bareRss = rssKiB(bareQemu.pid)
bareQemu.kill('SIGKILL')

const rows = [
  ['baseline: bare kernel boot to poweroff (wall)', fmt(median(bare)), '1.00x'],
  ['cold start to first instruction (prep + boot)', fmt(median(cold.map(first))), `${(median(cold.map(first)) / median(bare)).toFixed(2)}x`],
  ['  of which prep (initramfs + root image)', fmt(median(cold.map(r => r.prepMs))), ''],
  ['warm start to first instruction (prep + boot)', fmt(median(warm.map(first))), `${(median(warm.map(first)) / median(bare)).toFixed(2)}x`],
  ['  of which prep', fmt(median(warm.map(r => r.prepMs))), ''],
  ['  guest uptime at first instruction', `${median(warm.map(r => r.guestUptimeAtStart)).toFixed(2)} s`, ''],
  ['warm run, VM start to exit (command true)', fmt(median(warm.map(r => r.durationMs))), `${(median(warm.map(r => r.durationMs)) / median(bare)).toFixed(2)}x`],
  ['baseline: idle QEMU, no guest (RSS)', `${(bareRss / 1024).toFixed(0)} MiB`, '1.00x'],
  ['idle sandbox VM (QEMU RSS, 1 GiB guest)', `${(idleRss / 1024).toFixed(0)} MiB`, `${(idleRss / bareRss).toFixed(2)}x`],
]
console.log(`qemu driver, accel=${accel}, ${RUNS} runs each (median), kernel ${kernel.version}, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`)
for (const [a, b, c] of rows) console.log(`${a.padEnd(50)} ${b.padStart(10)} ${c.padStart(8)}`)
console.log(JSON.stringify({accel, runs: RUNS, bareMs: bare, coldMs: cold.map(first), warmMs: warm.map(first), warmBootMs: warm.map(r => r.bootMs), idleRssKiB: idleRss, bareRssKiB: bareRss}))
rmSync(work, {recursive: true, force: true})
