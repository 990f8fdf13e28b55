// Host-side promises of issue 10, attacked from inside ONE real VM (QEMU; TCG without /dev/kvm):
// guest root (an install step) and the agent try to leave setuid/setgid files and device nodes in
// the workspace, and the agent floods the proxy's guestfwd with connections while the host counts
// its connector processes. What the host sees is checked after the run (files) or during it (the
// guest holds its connections until the host has counted). Threat model: docs/security.md (Host side).
import assert from 'node:assert/strict'
import {lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type AddressInfo, type Server, type Socket} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Writable} from 'node:stream'
import type {VmResult} from '../../runtime/vm/driver.js'
import {QemuDriver} from '../../runtime/vm/qemu.js'
import {parseSay} from '../support/guest-conformance.js'
import {processesMentioning, shareAccelVerdict, vmSkipReason, vmTestAssets, type VmTestAssets} from '../vm/support.js'

/** The connector cap this test runs with, and how many connections the guest opens at once. */
const CAP = 16
const FLOOD = 96

// Guest root (install steps run as root): every way to leave a setuid/setgid file or a device.
const ROOT_ATTACK = String.raw`
cd /workspace
cp /bin/bash root-suid; chmod 4755 root-suid
cp /bin/bash root-sgid; chmod 2755 root-sgid
cp /bin/bash root-chmod-us; chmod u+s,g+s root-chmod-us
install -m 6755 /bin/bash root-install
perl -MFcntl -e 'sysopen(my $f, "root-open", O_CREAT|O_WRONLY, 06755) or exit 1'
mkdir root-dir; chmod 2775 root-dir
mknod root-char c 1 3
mknod root-block b 7 0
mknod -m 4755 root-fifo p
true
`

const AGENT_SCRIPT = String.raw`
set +e
say() { printf '%s=%s\n' "$1" "$2"; }
cd /workspace
cp /bin/bash agent-suid; chmod 4755 agent-suid; say agent_chmod_rc "$?"
say agent_suid_guest "$(stat -c %a agent-suid)"
cp /bin/bash agent-exec; chmod 755 agent-exec; say agent_exec_rc "$?"
perl -MFcntl -e 'sysopen(my $f, "agent-open", O_CREAT|O_WRONLY, 04755) or exit 1'
say root_char_guest "$(stat -c %F root-char 2>&1)"
# The flood: open FLOOD connections to the proxy and hold them until the host has counted.
n=0
for i in $(seq 1 $KIT_TEST_FLOOD); do exec {fd}<>/dev/tcp/10.0.2.100/3128 2>/dev/null && n=$((n+1)); done
say flood_opened "$n"
echo flood-held
i=0; while [ ! -f /workspace/.release ] && [ $i -lt 600 ]; do sleep 0.2; i=$((i+1)); done
exit 0
`

/** Connector processes (the slot gate, perl, or the socat it became) that reach `target`. */
function connectorPids(target: string): number[] {
  return processesMentioning(target).filter((pid) => {
    try {
      const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!
      return /(^|\/)(socat|perl)$/.test(argv0)
    } catch {
      return false
    }
  })
}

function mode(path: string): number {
  return lstatSync(path).mode
}

describe('security, host side: attacks from one real VM', function () {
  this.timeout(900_000)
  const skip = vmSkipReason()
  let assets: VmTestAssets | undefined
  let root: string
  let ws: string
  let proxy: Server
  const held: Socket[] = []
  let result: VmResult
  let out: Record<string, string> = {}
  let connectors = -1
  let connectorPssKiB = 0

  before(async function () {
    if (skip) {
      console.log(`      (skipped: ${skip})`)
      this.skip()
    }
    assets = await vmTestAssets()
    root = mkdtempSync(join(tmpdir(), 'kit-sec-host-'))
    ws = join(root, 'ws')
    rmSync(ws, {force: true, recursive: true})
    mkdirSync(ws)
    // The proxy stand-in accepts and holds every connection (a real proxy would too, up to its cap).
    proxy = createServer((s) => {
      held.push(s)
      s.on('error', () => {})
    })
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
    const port = (proxy.address() as AddressInfo).port
    const target = `TCP4:127.0.0.1:${port}`
    let buffered = ''
    let counted = false
    const stdout = new Writable({
      write(chunk, _enc, done) {
        buffered += chunk.toString()
        if (!counted && buffered.includes('flood-held\n')) {
          counted = true
          void (async () => {
            // Count until two readings agree (refused connectors exit at once; held ones stay).
            let last = -1
            for (let i = 0; i < 50; i++) {
              const pids = connectorPids(target)
              if (pids.length === last) break
              last = pids.length
              await new Promise((r) => setTimeout(r, 300))
            }
            const pids = connectorPids(target)
            connectors = pids.length
            connectorPssKiB = pids.reduce((sum, pid) => {
              try {
                const m = /Pss:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))
                return sum + (m ? Number(m[1]) : 0)
              } catch {
                return sum // gone meanwhile
              }
            }, 0)
            writeFileSync(join(ws, '.release'), '')
          })()
        }
        done()
      },
    })
    const driver = new QemuDriver({imageCacheDir: assets.imageCacheDir})
    result = await driver.run({
      name: 'sec-host',
      rootfs: assets.rootfs,
      rootfsId: assets.rootfs,
      kitLayers: [],
      workspace: ws,
      proxy: {host: '127.0.0.1', port},
      env: {KIT_TEST_FLOOD: String(FLOOD)},
      plan: {install: [{command: ROOT_ATTACK}], files: [], startup: []},
      command: ['bash', '-c', AGENT_SCRIPT],
    }, {env: {...assets.env, KIT_VM_MAX_CONNECTIONS: String(CAP)}, stdout})
    shareAccelVerdict(assets)
    out = parseSay(buffered)
    console.log(`      (flood: ${out.flood_opened} connections held by the guest, ${connectors} connector processes on the host, ${connectorPssKiB} KiB PSS; cap ${CAP})`)
  })

  after(() => {
    for (const s of held) s.destroy()
    proxy?.close()
    if (assets) rmSync(assets.kitHome, {recursive: true, force: true})
    if (root) rmSync(root, {recursive: true, force: true})
  })

  it('runs the attacks (the VM ran them to the end)', () => {
    assert.equal(result.exitCode, 0, result.stderr.toString())
    assert.equal(out.agent_exec_rc, '0')
  })

  it('a file the guest makes setuid is not setuid on the host', () => {
    for (const f of ['agent-suid', 'root-suid', 'root-chmod-us', 'root-install']) {
      const m = mode(join(ws, f))
      assert.equal(m & 0o4000, 0, `${f} is setuid on the host (mode ${m.toString(8)})`)
    }
    assert.notEqual(out.agent_suid_guest, '4755', 'the guest is told its chmod failed, it does not believe it worked')
  })

  it('a file or directory the guest makes setgid is not setgid on the host', () => {
    for (const f of ['root-sgid', 'root-chmod-us', 'root-install', 'root-dir']) {
      const m = mode(join(ws, f))
      assert.equal(m & 0o2000, 0, `${f} is setgid on the host (mode ${m.toString(8)})`)
    }
  })

  it('a file the guest creates with a setuid mode (open O_CREAT) is not setuid on the host', () => {
    for (const f of ['agent-open', 'root-open']) {
      let m: number
      try {
        m = mode(join(ws, f))
      } catch {
        continue // refused outright: nothing on the host
      }
      assert.equal(m & 0o6000, 0, `${f} has mode ${m.toString(8)} on the host`)
    }
  })

  it('a device node the guest makes does not exist on the host', () => {
    for (const f of readdirSync(ws)) {
      const st = lstatSync(join(ws, f))
      assert.ok(!st.isCharacterDevice() && !st.isBlockDevice(), `${f} is a device node on the host`)
    }
  })

  it('exec bits the guest sets still reach the host (the workspace stays usable)', () => {
    assert.equal(mode(join(ws, 'agent-exec')) & 0o777, 0o755)
  })

  it('a guest connection flood holds at most the cap of connector processes on the host', () => {
    assert.equal(out.flood_opened, String(FLOOD), 'the guest opened its connections (beyond the cap they are closed at once)')
    assert.ok(connectors >= 1, 'the count ran')
    assert.ok(connectors <= CAP, `${connectors} connector processes on the host for ${FLOOD} guest connections (cap ${CAP})`)
    assert.ok(held.length <= CAP, `the proxy got ${held.length} connections (cap ${CAP})`)
  })
})
