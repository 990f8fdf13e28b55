// Guest connection flood (issue 10, break 5): from inside one real VM the guest opens FLOOD_CONNS
// (1000) connections at once to the proxy's guestfwd address and holds them for FLOOD_SECONDS
// (30); the host samples, every second, the connector processes
// (perl slot gate / socat) that serve them and their memory (PSS, KiB). Two runs in the same
// process: the baseline with the cap out of reach (KIT_VM_MAX_CONNECTIONS=100000: one host process
// per guest connection, as before the cap) and kit's default cap. Run through bench/runtime/flood.sh.
import {readFileSync, readdirSync, mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Writable} from 'node:stream'
import {QemuDriver, MAX_GUEST_CONNECTIONS} from '../../dist/runtime/vm/qemu.js'
import {debianRootfs} from '../../dist/runtime/vm/rootfs.js'
import {setupVm, SAMPLE_ROOTFS_PACKAGES} from '../../dist/runtime/vm/setup.js'

const CONNS = Number(process.env.FLOOD_CONNS || 1000)
const SECONDS = Number(process.env.FLOOD_SECONDS || 30)
const accel = process.env.KIT_VM_ACCEL || 'tcg'
const shared = join(tmpdir(), 'kit-test-vm-cache')
const work = mkdtempSync(join(tmpdir(), 'kit-bench-flood-'))
const kernelHome = join(shared, 'home')
const {kernel} = await setupVm({env: {...process.env, KIT_HOME: kernelHome}})
const rootfs = await debianRootfs({packages: SAMPLE_ROOTFS_PACKAGES, cacheRoot: join(shared, 'rootfs')})

// Opens CONNS connections (bash /dev/tcp) as fast as it can and holds them for SECS.
const GUEST = String.raw`
ulimit -n 4096
n=0
for i in $(seq 1 $CONNS); do exec {fd}<>/dev/tcp/10.0.2.100/3128 2>/dev/null && n=$((n+1)); done
echo flood-start $n
sleep $SECS
echo flood-end
`

function connectors(target) {
  const pids = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0')
      if (/(^|\/)(socat|perl)$/.test(argv[0]) && argv.includes(target)) pids.push(Number(d))
    } catch {}
  }
  return pids
}

function pssKiB(pids) {
  let sum = 0
  for (const pid of pids) {
    try {
      sum += Number(/Pss:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0)
    } catch {}
  }
  return sum
}

async function run(label, cap) {
  const held = []
  const proxy = createServer(s => { held.push(s); s.on('error', () => {}) })
  await new Promise(r => proxy.listen(0, '127.0.0.1', r))
  const target = `TCP4:127.0.0.1:${proxy.address().port}`
  const ws = join(work, label)
  mkdirSync(ws)
  let maxProcs = 0, maxPss = 0, samples = 0, sampler
  let buf = ''
  const stdout = new Writable({write(c, _e, done) {
    buf += c
    if (!sampler && buf.includes('flood-start')) {
      sampler = setInterval(() => {
        const pids = connectors(target)
        samples++
        maxProcs = Math.max(maxProcs, pids.length)
        maxPss = Math.max(maxPss, pssKiB(pids))
      }, 1000)
    }
    done()
  }})
  const t = Date.now()
  const r = await new QemuDriver({imageCacheDir: join(work, 'images')}).run({
    name: `flood-${label}`, rootfs, rootfsId: `flood-${process.pid}`, kitLayers: [], workspace: ws,
    proxy: {host: '127.0.0.1', port: proxy.address().port}, env: {CONNS: String(CONNS), SECS: String(SECONDS)},
    plan: {install: [], files: [], startup: []}, command: ['bash', '-c', GUEST],
  }, {env: {...process.env, KIT_HOME: join(work, 'home'), KIT_VM_ACCEL: accel, KIT_KERNEL: kernel.kernel, KIT_KERNEL_MODULES: kernel.modulesDir,
    KIT_VM_MAX_CONNECTIONS: String(cap)}, stdout})
  clearInterval(sampler)
  for (const s of held) s.destroy()
  proxy.close()
  return {label, cap, exitCode: r.exitCode, wallS: (Date.now() - t) / 1000, samples, maxProcs, maxPssKiB: maxPss, proxyConns: held.length}
}

const base = await run('uncapped', 100000)
const capped = await run('capped', MAX_GUEST_CONNECTIONS)
rmSync(work, {recursive: true, force: true})
for (const r of [base, capped]) {
  console.log(`${r.label.padEnd(9)} cap ${String(r.cap).padStart(6)}: max ${r.maxProcs} connector processes, max ${(r.maxPssKiB / 1024).toFixed(1)} MiB PSS (${r.samples} samples), proxy saw ${r.proxyConns} connections`)
}
console.log(`ratio capped/uncapped: processes ${(capped.maxProcs / base.maxProcs).toFixed(3)}, memory ${(capped.maxPssKiB / base.maxPssKiB).toFixed(3)}`)
console.log(JSON.stringify({conns: CONNS, seconds: SECONDS, accel, base, capped}))
