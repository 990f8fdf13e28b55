// The docker driver against a real engine (test/support/docker.ts): one container runs a plan and
// a command that probes the sandbox from inside, with `exec` into it while it runs; the checks
// read what it printed and what the host saw (those every driver shares are in
// test/support/guest-conformance.ts; the docker ones are here). Then a failing and a cancelled
// run, and after each run nothing is left: no container, no network, no firewall rule.
import assert from 'node:assert/strict'
import {chownSync, mkdirSync, mkdtempSync, rmSync, statSync} from 'node:fs'
import {get} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'
import {spawnSync} from 'node:child_process'
import {DockerDriver, KERNEL_WARNING} from '../../runtime/docker/driver.js'
import {connectEngine, LABEL_SANDBOX} from '../../runtime/docker/engine.js'
import {ensureRootfsImage} from '../../runtime/docker/image.js'
import type {RunningSandbox, VmResult, VmSpec} from '../../runtime/vm/driver.js'
import {debianRootfs} from '../../runtime/vm/rootfs.js'
import {leftovers, testEngine} from '../support/docker.js'
import {guestConformance, guestFixture, guestProbe, parseSay, type GuestFixture, type GuestRun} from '../support/guest-conformance.js'
import {SHARED_CACHE} from '../vm/support.js'

// The docker driver's own probe lines: the gateway (where the forwarder listens) as the host's
// address, Docker's resolvers, another container, IPv6, capabilities, root-only files, `exec`.
const PROBE = guestProbe(String.raw`
gw=$(echo "$HTTP_PROXY" | sed -e 's,^http://,,' -e 's,:.*,,')
curl --noproxy '*' -sS -m 5 -o /dev/null "http://$gw:$KIT_TEST_HOST_PORT/" 2>/dev/null; say host_rc "$?"
if getent hosts host.docker.internal >/dev/null 2>&1; then say resolve_host ok; else say resolve_host fail; fi
# Docker's embedded resolver, asked directly, and the gateway as a resolver: no answer.
if /.kit/bin/busybox nslookup kit-test.invalid 127.0.0.11 >/dev/null 2>&1; then say embedded_dns ok; else say embedded_dns fail; fi
if /.kit/bin/busybox nslookup kit-test.invalid "$gw" >/dev/null 2>&1; then say gateway_dns ok; else say gateway_dns fail; fi
curl --noproxy '*' -sS -m 5 -o /dev/null "http://$KIT_TEST_NEIGHBOUR/" 2>/dev/null; say neighbour_rc "$?"
say ipv6 "$(cat /proc/net/if_inet6 2>/dev/null | wc -l)"
say caps "$(grep -E '^Cap(Eff|Prm)' /proc/self/status | awk '{print $2}' | tr '\n' ',')"
say cap_bnd "$(awk '/^CapBnd/ {print $2}' /proc/self/status)"
say nnp "$(awk '/^NoNewPrivs/ {print $2}' /proc/self/status)"
say plan_readable "$(cat /.kit/plan/plan.sh >/dev/null 2>&1 && echo yes || echo no)"
say run_dir_readable "$(ls /.kit-host/run >/dev/null 2>&1 && echo yes || echo no)"
i=0; while [ ! -f /tmp/exec-was-here ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
say exec_mark "$(cat /tmp/exec-was-here)"
`)

describe('docker driver: one container, many checks (real engine)', function () {
  this.timeout(600_000)
  let env: NodeJS.ProcessEnv
  let rootfs: string
  let fixture: GuestFixture | undefined
  let run: GuestRun
  let execOut = ''
  let execCode: number | undefined
  let setupLog = ''
  let neighbour: {container?: import('dockerode').Container; network?: import('dockerode').Network; address?: string; answered?: number; toForwarder?: string} = {}
  let warnings = ''
  const name = `dk-test-${process.pid}`


  const baseSpec = (over: Partial<VmSpec>): VmSpec => ({
    name,
    rootfs,
    rootfsId: undefined,
    kitLayers: [],
    workspace: fixture!.workspace,
    proxy: fixture!.spec.proxy,
    env: {},
    plan: {install: [], files: [], startup: []},
    command: ['true'],
    ...over,
  })

  before(async function () {
    const engine = await testEngine()
    if (engine.skip) {
      console.log(`    (skipped: ${engine.skip})`)
      this.skip()
    }
    const haveRootfs = spawnSync('sh', ['-c', 'command -v mmdebstrap']).status === 0
    if (!haveRootfs) {
      console.log('    (skipped: mmdebstrap is not installed: no Debian root filesystem for the container)')
      this.skip()
    }
    env = {...process.env, ...engine.env, KIT_HOME: mkdtempSync(join(tmpdir(), 'kit-test-docker-home-'))}
    rootfs = await debianRootfs({packages: ['curl', 'git', 'ca-certificates'], cacheRoot: join(SHARED_CACHE, 'rootfs')})
    // The host service listens on every address (the gateway's included): the container must not reach it.
    fixture = await guestFixture('kit-docker-test-', '0.0.0.0')
    const {workspace} = fixture
    // The agent is uid 1000 and the container shares the host's uids: the project is its.
    for (const p of [workspace, join(workspace, 'from-host.txt'), join(workspace, 'existing.txt')]) chownSync(p, 1000, 1000)

    // A neighbour: a container of this test on an ordinary (routed) network, serving HTTP. The
    // sandbox must not reach it: nothing is forwarded from the sandbox's bridge.
    {
      const docker = await connectEngine(env)
      const image = await ensureRootfsImage(docker, rootfs)
      neighbour.network = await docker.createNetwork({Name: `kit-test-neighbour-${process.pid}`, Driver: 'bridge', Labels: {'dev.kit.test': 'neighbour'}})
      neighbour.container = await docker.createContainer({
        Image: image.tag, Entrypoint: ['/busybox', 'httpd', '-f', '-p', '8080', '-h', '/etc'], Cmd: [], Labels: {'dev.kit.test': 'neighbour'},
        HostConfig: {Binds: ['/bin/busybox:/busybox:ro'], NetworkMode: `kit-test-neighbour-${process.pid}`},
      })
      await neighbour.container.start()
      const info = await neighbour.container.inspect()
      neighbour.address = `${Object.values(info.NetworkSettings.Networks)[0]!.IPAddress}:8080`
      for (let i = 0; i < 50 && neighbour.answered === undefined; i++) {
        neighbour.answered = await new Promise<number | undefined>((r) => {
          get(`http://${neighbour.address}/passwd`, (res) => {
            res.resume()
            r(res.statusCode)
          }).on('error', () => setTimeout(() => r(undefined), 100))
        })
      }
    }

    const log = new PassThrough()
    log.on('data', (d: Buffer) => (setupLog += d.toString()))
    const origWrite = process.stderr.write.bind(process.stderr)
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      warnings += String(chunk)
      return (origWrite as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest)
    }) as typeof process.stderr.write
    let result: VmResult
    try {
      result = await new DockerDriver().run(baseSpec({
        ...fixture.spec,
        env: {...fixture.spec.env, KIT_TEST_NEIGHBOUR: neighbour.address!},
        command: ['bash', '-c', PROBE],
      }), {
        env,
        setupLog: log,
        onRunning: (sandbox: RunningSandbox) => {
          const so = new PassThrough()
          so.on('data', (d: Buffer) => (execOut += d.toString()))
          void (async () => {
            // The neighbour tries the sandbox's forwarder (its proxy, with credentials): refused.
            const docker = await connectEngine(env)
            const [net] = await docker.listNetworks({filters: JSON.stringify({label: [`${LABEL_SANDBOX}=${name}`]})})
            const gw = (await docker.getNetwork(net!.Id).inspect()).IPAM!.Config![0]!.Gateway as string
            const ex = await neighbour.container!.exec({Cmd: ['/busybox', 'sh', '-c', `echo | /busybox nc -w 3 ${gw} 3128 2>&1; echo rc=$?`], AttachStdout: true, AttachStderr: true})
            const stream = await ex.start({hijack: true, stdin: false})
            const chunks: Buffer[] = []
            stream.on('data', (d: Buffer) => chunks.push(d))
            await new Promise((r) => stream.on('end', r))
            neighbour.toForwarder = Buffer.concat(chunks).toString('latin1')
          })().catch((e: Error) => (neighbour.toForwarder = `error ${e.message}`)).finally(() => sandbox.exec(['sh', '-c', 'echo "$(id -u) $(pwd) $KIT_TEST_VALUE" > /tmp/exec-was-here; cat /tmp/exec-was-here'], {stdout: so, stderr: so}).then((c) => (execCode = c)))
        },
      })
    } finally {
      process.stderr.write = origWrite
    }
    run = {fixture, result, out: parseSay(result.stdout)}
  })

  after(async () => {
    await neighbour.container?.remove({force: true}).catch(() => {})
    await neighbour.network?.remove().catch(() => {})
    fixture?.close()
    if (env?.KIT_HOME) rmSync(env.KIT_HOME, {recursive: true, force: true})
  })

  guestConformance(() => run, {
    proxyUrl: /^http:\/\/\d+\.\d+\.\d+\.\d+:3128$/, // the gateway forwarder
    // The container shares the host's uids: what the agent writes is uid 1000 on the host.
    agentFilesHostUid: 1000,
    hostProcesses: ['containerd', 'containerd-shim', 'systemd'],
  })

  it('is the docker driver, and says it shares the host kernel', () => {
    assert.equal(run.result.driver, 'docker')
    assert.ok(warnings.includes(KERNEL_WARNING), 'the host-kernel warning is printed')
  })

  it('logs the setup steps with the uid they run as', () => {
    assert.match(setupLog, /install\[0\] as 0/)
  })

  it('keeps the plan and the run dir root-only', () => {
    assert.equal(run.out.plan_readable, 'no')
    assert.equal(run.out.run_dir_readable, 'no')
  })

  it('gives the agent no capabilities and no-new-privileges; root keeps neither NET_ADMIN, NET_RAW nor SYS_ADMIN', () => {
    const {out} = run
    assert.equal(out.caps, '0000000000000000,0000000000000000,')
    assert.equal(out.nnp, '1')
    const bnd = BigInt(`0x${out.cap_bnd}`)
    for (const [cap, bit] of [['NET_ADMIN', 12n], ['NET_RAW', 13n], ['SYS_ADMIN', 21n], ['SYS_MODULE', 16n], ['SYS_PTRACE', 19n]] as const) {
      assert.equal((bnd >> bit) & 1n, 0n, `${cap} in the bounding set`)
    }
  })

  it("resolves no name through host.docker.internal, Docker's embedded resolver or the gateway", () => {
    assert.equal(run.out.resolve_host, 'fail')
    assert.equal(run.out.embedded_dns, 'fail')
    assert.equal(run.out.gateway_dns, 'fail')
  })

  it('has IPv6 off', () => {
    assert.equal(run.out.ipv6, '0')
  })

  it('cannot reach another container (a neighbour on a routed network) that the host itself reaches', () => {
    assert.equal(neighbour.answered, 200, 'the neighbour serves the host')
    assert.notEqual(run.out.neighbour_rc, '0')
  })

  it("refuses other containers of the host at the sandbox's forwarder (its proxy holds credentials)", () => {
    assert.match(neighbour.toForwarder ?? '', /refused[\s\S]*rc=1/)
  })

  it('runs exec (kit exec) in the same container as uid 1000 in the workspace with the agent env', () => {
    assert.equal(execCode, 0)
    assert.equal(execOut, `1000 /workspace it's "quoted" $HOME\n`)
    assert.equal(run.out.exec_mark, `1000 /workspace it's "quoted" $HOME`)
  })

  it('leaves no container, network or firewall rule behind; the image is imported once', async () => {
    assert.deepEqual(await leftovers(env, name), {containers: 0, networks: 0, rules: 0})
    const docker = await connectEngine(env)
    assert.equal((await ensureRootfsImage(docker, rootfs)).imported, false)
  })

  it('runs a terminal command (interactive) on a pty of its own as the agent, with its exit code', async () => {
    const input = new PassThrough()
    const output = new PassThrough()
    let seen = ''
    output.on('data', (d: Buffer) => {
      seen += d.toString()
      if (seen.includes('ready') && !seen.includes('hello')) input.write('hello\n')
    })
    let resized = false
    const r = await new DockerDriver().run(baseSpec({command: ['sh', '-c', 'echo ready; read x; echo "got:$x"; tty; id -u; stty size; exit 5']}), {
      env,
      terminal: {input, output, rows: 30, cols: 100},
      onRunning: (s) => {
        resized = typeof s.resize === 'function'
      },
    })
    assert.equal(r.exitCode, 5)
    assert.match(seen, /got:hello/)
    assert.match(seen, /\/dev\/pts\/\d+/)
    assert.match(seen, /^1000\r?$/m)
    assert.match(seen, /^30 100\r?$/m)
    assert.ok(resized)
    assert.deepEqual(await leftovers(env, name), {containers: 0, networks: 0, rules: 0})
  })

  it('says plainly when the workspace is not writable by the agent (uid 1000), and does not chown it', async () => {
    const rootOwned = join(fixture!.root, 'root-owned')
    mkdirSync(rootOwned, {mode: 0o755})
    let said = ''
    const origWrite = process.stderr.write.bind(process.stderr)
    process.stderr.write = ((chunk: string | Uint8Array) => {
      said += String(chunk)
      return true
    }) as typeof process.stderr.write
    let r: VmResult
    try {
      r = await new DockerDriver().run(baseSpec({workspace: rootOwned, command: ['sh', '-c', 'touch x 2>/dev/null; echo rc=$?']}), {env})
    } finally {
      process.stderr.write = origWrite
    }
    assert.match(said, /kit: warning: the workspace .*root-owned is not writable by uid 1000/)
    assert.equal(r.stdout.toString(), 'rc=1\n')
    assert.equal(statSync(rootOwned).uid, 0)
  })

  it('fails plainly when a setup step fails, and cleans up', async () => {
    await assert.rejects(
      new DockerDriver().run(baseSpec({plan: {install: [{command: 'echo broken >&2; exit 3'}], files: [], startup: []}}), {env}),
      (e: Error & {code?: string}) => e.code === 'VM_GUEST' && /install\[0\] failed \(exit 3\)/.test(e.message),
    )
    assert.deepEqual(await leftovers(env, name), {containers: 0, networks: 0, rules: 0})
  })

  it('stops on cancel (the signal) while the command runs, and cleans up', async () => {
    const ac = new AbortController()
    await assert.rejects(
      new DockerDriver().run(baseSpec({command: ['sleep', '120']}), {env, signal: ac.signal, onRunning: () => setTimeout(() => ac.abort(), 300)}),
      (e: Error & {code?: string}) => e.code === 'VM_TIMEOUT' && /cancelled/.test(e.message),
    )
    assert.deepEqual(await leftovers(env, name), {containers: 0, networks: 0, rules: 0})
  })
})
