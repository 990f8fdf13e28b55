#!/usr/bin/env bash
# Runtime benchmark of the docker driver against the qemu driver, both measured in this run on the
# same root filesystem (the tests' Debian tree: curl, git, CA certificates) and the same empty plan:
#   warm start to the command's first instruction (prep + boot: for docker the network, firewall,
#   forwarder and container set-up, the image already imported; for qemu the cached initramfs and
#   root image), and the memory of an idle sandbox (qemu: the QEMU RSS of a 1 GiB guest; docker:
#   the container's memory cgroup without page cache, plus its containerd-shim's RSS).
# The engine: DOCKER_HOST or /var/run/docker.sock, else a private dockerd (as the tests start it).
# TCG unless KIT_VM_ACCEL=kvm. BENCH_RUNS=N (3).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 is not installed" >&2; exit 1; }
npx tsc -p . >/dev/null 2>&1 || true
exec node --input-type=module - <<'EOF'
import {mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, chownSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Writable} from 'node:stream'
import {DockerDriver} from './dist/runtime/docker/driver.js'
import {connectEngine, LABEL_SANDBOX} from './dist/runtime/docker/engine.js'
import {QemuDriver} from './dist/runtime/vm/qemu.js'
import {debianRootfs} from './dist/runtime/vm/rootfs.js'
import {setupVm, SAMPLE_ROOTFS_PACKAGES} from './dist/runtime/vm/setup.js'
import {testEngine} from './dist/test/support/docker.js'

const RUNS = Number(process.env.BENCH_RUNS || 3)
const accel = process.env.KIT_VM_ACCEL || 'tcg'
const shared = join(tmpdir(), 'kit-test-vm-cache')
const work = mkdtempSync(join(tmpdir(), 'kit-bench-docker-'))
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = (ms) => `${(ms / 1000).toFixed(2)} s`
const first = (r) => r.prepMs + r.bootMs

const engine = await testEngine()
if (engine.skip) {
  console.error(`bench/runtime/docker.sh: ${engine.skip}`)
  process.exit(1)
}
const {kernel} = await setupVm({env: {...process.env, KIT_HOME: join(shared, 'home')}})
const rootfs = await debianRootfs({packages: SAMPLE_ROOTFS_PACKAGES, cacheRoot: join(shared, 'rootfs')})
const home = join(work, 'home')
const ws = join(work, 'ws')
mkdirSync(ws)
chownSync(ws, 1000, 1000)
const env = {...process.env, ...engine.env, KIT_HOME: home, KIT_VM_ACCEL: accel, KIT_KERNEL: kernel.kernel, KIT_KERNEL_MODULES: kernel.modulesDir}
const spec = {name: `bench-${process.pid}`, rootfs, rootfsId: `bench-${process.pid}`, kitLayers: [], workspace: ws, env: {}, plan: {install: [], files: [], startup: []}, command: ['true']}
const quiet = {env}

// Warm-up (fills the caches: initramfs and root image for qemu, the engine's image for docker).
const qemu = new QemuDriver({imageCacheDir: join(home, 'images')})
const docker = new DockerDriver()
await qemu.run(spec, quiet)
await docker.run(spec, quiet)
const qWarm = []
const dWarm = []
for (let i = 0; i < RUNS; i++) {
  qWarm.push(await qemu.run(spec, quiet))
  dWarm.push(await docker.run(spec, quiet))
}

// Idle memory: a sandbox whose command sleeps, sampled 3 s after it printed "ready".
const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0)
const pidsWhere = (test) => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
  try { return test(readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0')) } catch { return false }
})
async function idle(driver, sample) {
  let sampled
  const done = new Promise((r) => (sampled = r))
  let value = 0
  const stdout = new Writable({write(chunk, _e, cb) {
    if (String(chunk).includes('ready')) setTimeout(async () => { value = await sample(); sampled() }, 3000)
    cb()
  }})
  await Promise.all([driver.run({...spec, command: ['sh', '-c', 'echo ready; sleep 8']}, {env, stdout}), done])
  return value
}
const qIdle = await idle(qemu, async () => pidsWhere((a) => a[0].endsWith('qemu-system-x86_64') && a.some((x) => x.includes(ws))).map(rssKiB).reduce((a, b) => a + b, 0))
const engineClient = await connectEngine(env)
const dIdle = await idle(docker, async () => {
  const [c] = await engineClient.listContainers({filters: JSON.stringify({label: [`${LABEL_SANDBOX}=${spec.name}`]})})
  const s = await engineClient.getContainer(c.Id).stats({stream: false})
  const m = s.memory_stats
  const cache = m.stats?.total_inactive_file ?? m.stats?.inactive_file ?? m.stats?.cache ?? 0
  const cgroupKiB = (m.usage - cache) / 1024
  const shimKiB = pidsWhere((a) => a[0].includes('containerd-shim') && a.includes(c.Id)).map(rssKiB).reduce((a, b) => a + b, 0)
  return {cgroupKiB, shimKiB}
})
const dIdleKiB = dIdle.cgroupKiB + dIdle.shimKiB

const q = median(qWarm.map(first))
const d = median(dWarm.map(first))
const rows = [
  ['qemu: warm start to first instruction (baseline)', fmt(q), '1.00x'],
  ['docker: warm start to first instruction', fmt(d), `${(d / q).toFixed(2)}x`],
  ['  docker prep (network, firewall, container)', fmt(median(dWarm.map((r) => r.prepMs))), ''],
  ['  docker container start to first instruction', fmt(median(dWarm.map((r) => r.bootMs))), ''],
  ['qemu: idle sandbox, QEMU RSS (baseline)', `${(qIdle / 1024).toFixed(0)} MiB`, '1.00x'],
  ['docker: idle sandbox, cgroup + shim RSS', `${(dIdleKiB / 1024).toFixed(1)} MiB`, `${(dIdleKiB / qIdle).toFixed(3)}x`],
]
console.log(`docker vs qemu driver, qemu accel=${accel}, ${RUNS} warm runs each (median), load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`)
for (const [a, b, c] of rows) console.log(`${a.padEnd(50)} ${b.padStart(10)} ${c.padStart(8)}`)
console.log(JSON.stringify({accel, runs: RUNS, qemuWarmMs: qWarm.map(first), dockerWarmMs: dWarm.map(first), dockerBootMs: dWarm.map((r) => r.bootMs), qemuIdleRssKiB: qIdle, dockerIdle: dIdle}))
rmSync(work, {recursive: true, force: true})
process.exit(0)
EOF
