// Host-side promises of issue 10 through the docker driver (real engine, test/support/docker.ts):
// the container's root (an install step) and the agent try to leave setuid/setgid files, device
// nodes and file capabilities in the bind-mounted workspace, which is a host directory. Threat
// model: docs/security.md (Host side).
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {DockerDriver} from '../../runtime/docker/driver.js'
import type {VmResult} from '../../runtime/vm/driver.js'
import {debianRootfs} from '../../runtime/vm/rootfs.js'
import {testEngine} from '../support/docker.js'
import {parseSay} from '../support/guest-conformance.js'
import {SHARED_CACHE} from '../vm/support.js'

const ROOT_ATTACK = String.raw`
cd /workspace
cp /bin/bash root-suid; chmod 4755 root-suid
cp /bin/bash root-sgid; chmod 2755 root-sgid
install -m 6755 /bin/bash root-install
perl -MFcntl -e 'sysopen(my $f, "root-open", O_CREAT|O_WRONLY, 06755) or exit 1'
mkdir root-dir; chmod 2775 root-dir
mknod root-char c 1 3
mknod -m 4755 root-fifo p
awk '/^CapBnd/ {print $2}' /proc/self/status > /tmp/root-capbnd
true
`

const AGENT = String.raw`
set +e
say() { printf '%s=%s\n' "$1" "$2"; }
cd /workspace
cp /bin/bash agent-suid; chmod 4755 agent-suid; say agent_chmod_rc "$?"
cp /bin/bash agent-exec; chmod 755 agent-exec; say agent_exec_rc "$?"
perl -MFcntl -e 'sysopen(my $f, "agent-open", O_CREAT|O_WRONLY, 04755) or exit 1'
say root_capbnd "$(cat /tmp/root-capbnd)"
exit 0
`

describe('security, host side: attacks from a docker sandbox (real engine)', function () {
  this.timeout(600_000)
  let root: string
  let ws: string
  let result: VmResult
  let out: Record<string, string> = {}

  before(async function () {
    const engine = await testEngine()
    if (engine.skip) {
      console.log(`      (skipped: ${engine.skip})`)
      this.skip()
    }
    if (spawnSync('sh', ['-c', 'command -v mmdebstrap']).status !== 0) {
      console.log('      (skipped: mmdebstrap is not installed: no Debian root filesystem for the container)')
      this.skip()
    }
    root = mkdtempSync(join(tmpdir(), 'kit-sec-docker-'))
    ws = join(root, 'ws')
    mkdirSync(ws)
    chownSync(ws, 1000, 1000)
    const env = {...process.env, ...engine.env, KIT_HOME: join(root, 'home')}
    const rootfs = await debianRootfs({packages: ['curl', 'git', 'ca-certificates'], cacheRoot: join(SHARED_CACHE, 'rootfs')})
    result = await new DockerDriver().run({
      name: `sec-docker-${process.pid}`, rootfs, rootfsId: undefined, kitLayers: [], workspace: ws, env: {},
      plan: {install: [{command: ROOT_ATTACK}], files: [], startup: []},
      command: ['bash', '-c', AGENT],
    }, {env})
    out = parseSay(result.stdout)
  })

  after(() => {
    if (root) rmSync(root, {recursive: true, force: true})
  })

  it('runs the attacks (the sandbox ran them to the end)', () => {
    assert.equal(result.exitCode, 0, result.stderr.toString())
    assert.equal(out.agent_exec_rc, '0')
  })

  it('a file the sandbox makes setuid or setgid is not setuid or setgid on the host', () => {
    for (const f of ['agent-suid', 'root-suid', 'root-sgid', 'root-install', 'root-dir', 'agent-open', 'root-open', 'root-fifo']) {
      let m: number
      try {
        m = lstatSync(join(ws, f)).mode
      } catch {
        continue // refused outright
      }
      assert.equal(m & 0o6000, 0, `${f} has mode ${m.toString(8)} on the host`)
    }
  })

  it('a device node the sandbox makes does not exist on the host', () => {
    for (const f of readdirSync(ws)) {
      const st = lstatSync(join(ws, f))
      assert.ok(!st.isCharacterDevice() && !st.isBlockDevice(), `${f} is a device node on the host`)
    }
  })

  it("the sandbox's root cannot set file capabilities (no SETFCAP, no MKNOD in its bounding set)", () => {
    const bnd = BigInt(`0x${out.root_capbnd}`)
    assert.equal((bnd >> 31n) & 1n, 0n, 'SETFCAP in the bounding set')
    assert.equal((bnd >> 27n) & 1n, 0n, 'MKNOD in the bounding set')
  })

  it('exec bits the sandbox sets still reach the host (the workspace stays usable)', () => {
    assert.equal(lstatSync(join(ws, 'agent-exec')).mode & 0o777, 0o755)
  })
})
