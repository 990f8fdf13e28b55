// The docker driver against a real engine (test/support/docker.ts): one container runs a plan and
// a command that probes the sandbox from inside, with `exec` into it while it runs; the checks
// read what it printed and what the host saw. Then a failing and a cancelled run, and after each
// run nothing is left: no container, no network, no firewall rule.
import assert from 'node:assert/strict'
import {chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {createServer as createHttpServer, get, type Server as HttpServer} from 'node:http'
import {createServer, type AddressInfo, type Server} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'
import {spawnSync} from 'node:child_process'
import {DockerDriver, KERNEL_WARNING} from '../../runtime/docker/driver.js'
import {connectEngine, LABEL_SANDBOX} from '../../runtime/docker/engine.js'
import {findRules, RULE_PREFIX} from '../../runtime/docker/firewall.js'
import {ensureRootfsImage} from '../../runtime/docker/image.js'
import type {RunningSandbox, VmResult, VmSpec} from '../../runtime/vm/driver.js'
import {renderMemory} from '../../runtime/vm/plan.js'
import {debianRootfs} from '../../runtime/vm/rootfs.js'
import {testEngine} from '../support/docker.js'
import {SHARED_CACHE, testCaPem} from '../vm/support.js'

const PROBE = String.raw`
set +e
say() { printf '%s=%s\n' "$1" "$2"; }
gw=$(echo "$HTTP_PROXY" | sed -e 's,^http://,,' -e 's,:.*,,')
say uid "$(id -u):$(id -g)"
say user "$(id -un)"
say pwd "$(pwd)"
say home "$HOME"
say install_root_uid "$(cat /var/tmp/install-root-uid)"
say install_agent_uid "$(cat /tmp/install-agent-uid)"
say hello_stat "$(stat -c '%u:%g:%a' /home/agent/bin/hello.sh)"
say hello_out "$(/home/agent/bin/hello.sh)"
say settings_stat "$(stat -c '%u:%g:%a' /home/agent/.config/kit-test/settings.txt)"
say home_dir_owner "$(stat -c '%u:%g' /home/agent)"
say kitrc "$(tr '\n' '|' < /home/agent/.kitrc)"
say kitrc_stat "$(stat -c '%u:%a' /home/agent/.kitrc)"
say keep "$(cat /home/agent/keep.txt)"
say order "$(tr '\n' ',' < /tmp/order)"
say startup_fg "$(cat /tmp/startup-fg)"
i=0; while [ ! -f /tmp/startup-bg ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
say startup_bg "$(cat /tmp/startup-bg)"
say ws_kit_file "$(cat /workspace/kit-workspace.txt)"
say ws_existing "$(cat /workspace/existing.txt)"
say memory_main "$(grep -c 'kits-memory/node.md' /home/agent/AGENTS.md)"
say memory_mixin "$(cat /home/agent/kits-memory/node.md)"
say proxy_env "$HTTP_PROXY|$HTTPS_PROXY|$http_proxy|$NO_PROXY"
say ca_env "$NODE_EXTRA_CA_CERTS|$SSL_CERT_FILE|$REQUESTS_CA_BUNDLE"
say ca_file "$(grep -c 'BEGIN CERTIFICATE' "$NODE_EXTRA_CA_CERTS")"
say ca_in_bundle "$(grep -cF "$KIT_TEST_CA_LINE" /etc/ssl/certs/ca-certificates.crt)"
say kit_env "$KIT_TEST_VALUE"
say nameservers "$(grep -c '^nameserver' /etc/resolv.conf)"
if getent hosts kit-test.invalid >/dev/null 2>&1; then say resolve ok; else say resolve fail; fi
if getent hosts host.docker.internal >/dev/null 2>&1; then say resolve_host ok; else say resolve_host fail; fi
if getent hosts localhost >/dev/null 2>&1; then say resolve_localhost ok; else say resolve_localhost fail; fi
# Docker's embedded resolver, asked directly, and the gateway as a resolver: no answer.
if /.kit/bin/busybox nslookup kit-test.invalid 127.0.0.11 >/dev/null 2>&1; then say embedded_dns ok; else say embedded_dns fail; fi
if /.kit/bin/busybox nslookup kit-test.invalid "$gw" >/dev/null 2>&1; then say gateway_dns ok; else say gateway_dns fail; fi
curl --noproxy '*' -sS -m 5 -o /dev/null "http://$gw:$KIT_TEST_HOST_PORT/" 2>/dev/null; say gateway_host_rc "$?"
curl --noproxy '*' -sS -m 5 -o /dev/null "http://127.0.0.1:$KIT_TEST_HOST_PORT/" 2>/dev/null; say guest_loopback_rc "$?"
curl --noproxy '*' -sS -m 5 -o /dev/null "http://upstream.kit.test/" 2>/dev/null; say direct_name_rc "$?"
curl --noproxy '*' -sS -m 5 -o /dev/null "http://$KIT_TEST_NEIGHBOUR/" 2>/dev/null; say neighbour_rc "$?"
say via_proxy "$(curl -sS -m 30 http://upstream.kit.test/hello 2>&1)"
say ipv6 "$(cat /proc/net/if_inet6 2>/dev/null | wc -l)"
say caps "$(grep -E '^Cap(Eff|Prm)' /proc/self/status | awk '{print $2}' | tr '\n' ',')"
say cap_bnd "$(awk '/^CapBnd/ {print $2}' /proc/self/status)"
say nnp "$(awk '/^NoNewPrivs/ {print $2}' /proc/self/status)"
if [ -e /var/run/docker.sock ] || [ -e /run/docker.sock ]; then say docker_sock present; else say docker_sock absent; fi
for p in /proc/[0-9]*; do [ -n "$(tr -d '\0' < "$p/cmdline")" ] && cat "$p/comm"; done 2>/dev/null | sort -u | tr '\n' ',' > /tmp/procs
say procs "$(cat /tmp/procs)"
say plan_readable "$(cat /.kit/plan/plan.sh >/dev/null 2>&1 && echo yes || echo no)"
say run_dir_readable "$(ls /.kit-host/run >/dev/null 2>&1 && echo yes || echo no)"
say canary_found "$(find / \( -path /proc -o -path /sys -o -path /dev \) -prune -o -name "$KIT_TEST_CANARY" -print 2>/dev/null | wc -l)"
say host_file "$(cat /workspace/from-host.txt)"
say escape_bytes "$(cat /workspace/escape-abs /workspace/escape-rel 2>/dev/null | wc -c)"
echo guest-data > /workspace/from-guest.txt
i=0; while [ ! -f /tmp/exec-was-here ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
say exec_mark "$(cat /tmp/exec-was-here)"
say git "$(git --version | cut -d' ' -f1-2)"
echo to-stderr >&2
exit 7
`

interface Leftovers {
  containers: number
  networks: number
  rules: number
}

describe('docker driver: one container, many checks (real engine)', function () {
  this.timeout(600_000)
  let env: NodeJS.ProcessEnv
  let rootfs: string
  let root: string
  let workspace: string
  let result: VmResult
  let out: Record<string, string> = {}
  let hostConnections = 0
  let tcpServer: Server
  let proxy: HttpServer
  const proxied: string[] = []
  const canary = `kit-canary-${process.pid}-${Date.now()}`
  let execOut = ''
  let execCode: number | undefined
  let setupLog = ''
  let neighbour: {container?: import('dockerode').Container; network?: import('dockerode').Network; address?: string; answered?: number; toForwarder?: string} = {}
  let warnings = ''
  const name = `dk-test-${process.pid}`

  const leftovers = async (sandbox: string): Promise<Leftovers> => {
    const docker = await connectEngine(env)
    const filters = JSON.stringify({label: [`${LABEL_SANDBOX}=${sandbox}`]})
    return {
      containers: (await docker.listContainers({all: true, filters})).length,
      networks: (await docker.listNetworks({filters})).length,
      rules: (await findRules(`${RULE_PREFIX}:`)).filter((r) => r.comment.split(':')[2] === sandbox).length,
    }
  }

  const baseSpec = (over: Partial<VmSpec>): VmSpec => ({
    name,
    rootfs,
    rootfsId: undefined,
    kitLayers: [],
    workspace,
    proxy: {host: '127.0.0.1', port: (proxy.address() as AddressInfo).port},
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
    root = mkdtempSync(join(tmpdir(), 'kit-docker-test-'))
    workspace = join(root, 'project')
    mkdirSync(workspace)
    writeFileSync(join(root, canary), 'the container must not see this\n')
    writeFileSync(join(workspace, 'from-host.txt'), 'host-data\n')
    writeFileSync(join(workspace, 'existing.txt'), 'user-owned\n')
    symlinkSync(join(root, canary), join(workspace, 'escape-abs'))
    symlinkSync(`../${canary}`, join(workspace, 'escape-rel'))
    // The agent is uid 1000 and the container shares the host's uids: the project is its.
    for (const p of [workspace, join(workspace, 'from-host.txt'), join(workspace, 'existing.txt')]) chownSync(p, 1000, 1000)

    const l0 = join(root, 'layer0')
    const l1 = join(root, 'layer1')
    mkdirSync(join(l0, 'home/agent/bin'), {recursive: true})
    mkdirSync(join(l0, 'workspace'), {recursive: true})
    writeFileSync(join(l0, 'home/agent/bin/hello.sh'), '#!/bin/sh\necho hello from layer0\n')
    chmodSync(join(l0, 'home/agent/bin/hello.sh'), 0o755)
    writeFileSync(join(l0, 'home/agent/keep.txt'), 'from-layer\n')
    writeFileSync(join(l0, 'workspace/kit-workspace.txt'), 'from-kit\n')
    writeFileSync(join(l0, 'workspace/existing.txt'), 'from-kit-must-not-win\n')
    mkdirSync(join(l1, 'home/agent/bin'), {recursive: true})
    mkdirSync(join(l1, 'home/agent/.config/kit-test'), {recursive: true})
    writeFileSync(join(l1, 'home/agent/bin/hello.sh'), '#!/bin/sh\necho hello from layer1\n')
    chmodSync(join(l1, 'home/agent/bin/hello.sh'), 0o755)
    writeFileSync(join(l1, 'home/agent/.config/kit-test/settings.txt'), 'x=1\n')

    // A host service on every address (the gateway's included): the container must not reach it.
    tcpServer = createServer((s) => {
      hostConnections++
      s.end('host-secret-service\n')
    })
    await new Promise<void>((r) => tcpServer.listen(0, '0.0.0.0', r))
    proxy = createHttpServer((req, res) => {
      proxied.push(`${req.method} ${req.url}`)
      res.end(`proxied ${req.method} ${req.url}\n`)
    })
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))

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

    const ca = testCaPem(root)
    const log = new PassThrough()
    log.on('data', (d: Buffer) => (setupLog += d.toString()))
    const origWrite = process.stderr.write.bind(process.stderr)
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      warnings += String(chunk)
      return (origWrite as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest)
    }) as typeof process.stderr.write
    try {
      result = await new DockerDriver().run(baseSpec({
        kitLayers: [l0, l1],
        env: {
          KIT_TEST_VALUE: `it's "quoted" $HOME`,
          KIT_TEST_HOST_PORT: String((tcpServer.address() as AddressInfo).port),
          KIT_TEST_CANARY: canary,
          KIT_TEST_NEIGHBOUR: neighbour.address!,
          KIT_TEST_CA_LINE: ca.split('\n')[1]!,
        },
        caCertPem: ca,
        plan: {
          install: [
            {command: 'id -u > /var/tmp/install-root-uid; echo install >> /tmp/order; chmod 666 /tmp/order'},
            {command: 'id -u > /tmp/install-agent-uid', user: '1000'},
          ],
          files: [
            {path: '/home/agent/.kitrc', content: 'workdir=${WORKDIR}\nsecond line\n', mode: '0600'},
            {path: '/home/agent/keep.txt', content: 'from-setup\n', onlyIfMissing: true},
          ],
          startup: [
            {command: ['sh', '-c', 'id -u > /tmp/startup-fg; test -f /home/agent/.kitrc && echo startup >> /tmp/order']},
            {command: ['sh', '-c', 'sleep 0.2; echo bg-$(id -u) > /tmp/startup-bg'], background: true},
          ],
          memory: renderMemory('/home/agent', 'AGENTS.md', '# Agent\n', [{name: 'node', content: 'Use node 20.'}]),
        },
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
    for (const line of result.stdout.toString('utf8').split('\n')) {
      const eq = line.indexOf('=')
      if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1)
    }
  })

  after(async () => {
    await neighbour.container?.remove({force: true}).catch(() => {})
    await neighbour.network?.remove().catch(() => {})
    tcpServer?.close()
    proxy?.close()
    if (root) rmSync(root, {recursive: true, force: true})
    if (env?.KIT_HOME) rmSync(env.KIT_HOME, {recursive: true, force: true})
  })

  it('returns the exit code, stdout and stderr (separately), and bootMs; says it shares the host kernel', () => {
    assert.equal(result.exitCode, 7)
    assert.equal(result.stderr.toString(), 'to-stderr\n')
    assert.equal(result.driver, 'docker')
    assert.ok(result.bootMs > 0, 'bootMs is reported')
    assert.equal(out.pwd, '/workspace')
    assert.equal(out.git, 'git version', 'the Debian image has a real git')
    assert.ok(warnings.includes(KERNEL_WARNING), 'the host-kernel warning is printed')
  })

  it('runs the command as the agent (uid 1000) with HOME=/home/agent', () => {
    assert.equal(out.uid, '1000:1000')
    assert.equal(out.user, 'agent')
    assert.equal(out.home, '/home/agent')
    assert.equal(out.home_dir_owner, '1000:1000')
  })

  it('runs the plan in order: install (root by default, else the named user), files, startup', () => {
    assert.equal(out.install_root_uid, '0')
    assert.equal(out.install_agent_uid, '1000')
    assert.equal(out.order, 'install,startup,')
    assert.match(setupLog, /install\[0\] as 0/)
  })

  it('lands files/home layers in /home/agent, owned by 1000, exec bits kept, later layers winning', () => {
    assert.equal(out.hello_stat, '1000:1000:755')
    assert.equal(out.hello_out, 'hello from layer1')
    assert.equal(out.settings_stat, '1000:1000:644')
  })

  it('writes setup.files as uid 1000 with their mode, ${WORKDIR} substituted, onlyIfMissing honoured', () => {
    assert.equal(out.kitrc, 'workdir=/workspace|second line|')
    assert.equal(out.kitrc_stat, '1000:600')
    assert.equal(out.keep, 'from-layer')
  })

  it('runs startup commands (foreground and background) as uid 1000', () => {
    assert.equal(out.startup_fg, '1000')
    assert.equal(out.startup_bg, 'bg-1000')
  })

  it("copies files/workspace into the workspace without overwriting the user's files", () => {
    assert.equal(out.ws_kit_file, 'from-kit')
    assert.equal(out.ws_existing, 'user-owned')
    assert.equal(readFileSync(join(workspace, 'kit-workspace.txt'), 'utf8'), 'from-kit\n')
  })

  it('writes the agent memory file with a kits section and one file per mixin', () => {
    assert.equal(out.memory_main, '1')
    assert.equal(out.memory_mixin, 'Use node 20.')
  })

  it('shares the workspace both ways; what the agent writes is uid 1000 on the host', () => {
    assert.equal(out.host_file, 'host-data')
    assert.equal(readFileSync(join(workspace, 'from-guest.txt'), 'utf8'), 'guest-data\n')
    assert.equal(statSync(join(workspace, 'from-guest.txt')).uid, 1000)
  })

  it('shows only the workspace: a canary beside it is not visible, symlinks out of it do not reach the host', () => {
    assert.equal(out.canary_found, '0')
    assert.equal(out.escape_bytes, '0')
  })

  it('holds only its own processes, no Docker socket; the plan and the run dir are root-only', () => {
    const procs = out.procs!.split(',').filter(Boolean)
    assert.ok(procs.length > 0 && procs.length < 20, `process names: ${out.procs}`)
    for (const host of ['node', 'mocha', 'dockerd', 'containerd', 'containerd-shim', 'systemd', 'qemu-system-x86']) assert.ok(!procs.includes(host), `${host} visible in the container`)
    assert.equal(out.docker_sock, 'absent')
    assert.equal(out.plan_readable, 'no')
    assert.equal(out.run_dir_readable, 'no')
  })

  it('gives the agent no capabilities and no-new-privileges; root keeps neither NET_ADMIN, NET_RAW nor SYS_ADMIN', () => {
    assert.equal(out.caps, '0000000000000000,0000000000000000,')
    assert.equal(out.nnp, '1')
    const bnd = BigInt(`0x${out.cap_bnd}`)
    for (const [cap, bit] of [['NET_ADMIN', 12n], ['NET_RAW', 13n], ['SYS_ADMIN', 21n], ['SYS_MODULE', 16n], ['SYS_PTRACE', 19n]] as const) {
      assert.equal((bnd >> bit) & 1n, 0n, `${cap} in the bounding set`)
    }
  })

  it('sets the proxy environment to the gateway forwarder and installs the proxy CA', () => {
    const [httpProxy] = out.proxy_env!.split('|')
    assert.match(httpProxy!, /^http:\/\/\d+\.\d+\.\d+\.\d+:3128$/)
    assert.equal(out.proxy_env, `${httpProxy}|${httpProxy}|${httpProxy}|localhost,127.0.0.1`)
    assert.equal(out.ca_env, '/usr/local/share/ca-certificates/kit-proxy-ca.crt|/etc/ssl/certs/ca-certificates.crt|/etc/ssl/certs/ca-certificates.crt')
    assert.equal(out.ca_file, '1')
    assert.equal(out.ca_in_bundle, '1')
  })

  it('passes the environment through quoting intact', () => {
    assert.equal(out.kit_env, `it's "quoted" $HOME`)
  })

  it("resolves no name: no nameserver, Docker's embedded resolver and the gateway answer nothing (localhost does)", () => {
    assert.equal(out.nameservers, '0')
    assert.equal(out.resolve, 'fail')
    assert.equal(out.resolve_host, 'fail')
    assert.equal(out.embedded_dns, 'fail')
    assert.equal(out.gateway_dns, 'fail')
    assert.equal(out.resolve_localhost, 'ok')
    assert.equal(out.direct_name_rc, '6', 'curl: could not resolve host')
  })

  it('cannot reach a host service through the gateway address, nor on its own loopback; IPv6 is off', () => {
    assert.notEqual(out.gateway_host_rc, '0')
    assert.notEqual(out.guest_loopback_rc, '0')
    assert.equal(hostConnections, 0)
    assert.equal(out.ipv6, '0')
  })

  it('cannot reach another container (a neighbour on a routed network) that the host itself reaches', () => {
    assert.equal(neighbour.answered, 200, 'the neighbour serves the host')
    assert.notEqual(out.neighbour_rc, '0')
  })

  it("refuses other containers of the host at the sandbox's forwarder (its proxy holds credentials)", () => {
    assert.match(neighbour.toForwarder ?? '', /refused[\s\S]*rc=1/)
  })

  it('reaches the host-side proxy through the gateway forwarder', () => {
    assert.equal(out.via_proxy, 'proxied GET http://upstream.kit.test/hello')
    assert.deepEqual(proxied, ['GET http://upstream.kit.test/hello'])
  })

  it('runs exec (kit exec) in the same container as uid 1000 in the workspace with the agent env', () => {
    assert.equal(execCode, 0)
    assert.equal(execOut, `1000 /workspace it's "quoted" $HOME\n`)
    assert.equal(out.exec_mark, `1000 /workspace it's "quoted" $HOME`)
  })

  it('leaves no container, network or firewall rule behind; the image is imported once', async () => {
    assert.deepEqual(await leftovers(name), {containers: 0, networks: 0, rules: 0})
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
    assert.deepEqual(await leftovers(name), {containers: 0, networks: 0, rules: 0})
  })

  it('says plainly when the workspace is not writable by the agent (uid 1000), and does not chown it', async () => {
    const rootOwned = join(root, 'root-owned')
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
    assert.deepEqual(await leftovers(name), {containers: 0, networks: 0, rules: 0})
  })

  it('stops on cancel (the signal) while the command runs, and cleans up', async () => {
    const ac = new AbortController()
    await assert.rejects(
      new DockerDriver().run(baseSpec({command: ['sleep', '120']}), {env, signal: ac.signal, onRunning: () => setTimeout(() => ac.abort(), 300)}),
      (e: Error & {code?: string}) => e.code === 'VM_TIMEOUT' && /cancelled/.test(e.message),
    )
    assert.deepEqual(await leftovers(name), {containers: 0, networks: 0, rules: 0})
  })
})
