// One real VM (QEMU; TCG without /dev/kvm) runs a plan and a command that probes the sandbox from
// inside; the checks below read what it printed and what the host saw. One boot for the file.
import assert from 'node:assert/strict'
import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {createServer as createHttpServer, Server as HttpServer} from 'node:http'
import {createServer, Server} from 'node:net'
import {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {renderMemory} from '../../runtime/vm/plan.js'
import {QemuDriver} from '../../runtime/vm/qemu.js'
import type {VmResult} from '../../runtime/vm/driver.js'
import type {VmTestAssets} from './support.js'
import {processesMentioning, shareAccelVerdict, testCaPem, vmSkipReason, vmTestAssets} from './support.js'

const PROBE = String.raw`
set +e
say() { printf '%s=%s\n' "$1" "$2"; }
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
if getent hosts localhost >/dev/null 2>&1; then say resolve_localhost ok; else say resolve_localhost fail; fi
curl --noproxy '*' -sS -m 5 -o /dev/null "http://10.0.2.2:$KIT_TEST_HOST_PORT/" 2>/dev/null; say direct_host_rc "$?"
curl --noproxy '*' -sS -m 5 -o /dev/null "http://127.0.0.1:$KIT_TEST_HOST_PORT/" 2>/dev/null; say guest_loopback_rc "$?"
curl --noproxy '*' -sS -m 5 -o /dev/null "http://upstream.kit.test/" 2>/dev/null; say direct_name_rc "$?"
say via_proxy "$(curl -sS -m 30 http://upstream.kit.test/hello 2>&1)"
if [ -e /var/run/docker.sock ] || [ -e /run/docker.sock ]; then say docker_sock present; else say docker_sock absent; fi
for p in /proc/[0-9]*; do [ -n "$(tr -d '\0' < "$p/cmdline")" ] && cat "$p/comm"; done 2>/dev/null | sort -u | tr '\n' ',' > /tmp/procs
say procs "$(cat /tmp/procs)"
say canary_found "$(find / \( -path /proc -o -path /sys -o -path /dev \) -prune -o -name "$KIT_TEST_CANARY" -print 2>/dev/null | wc -l)"
say host_file "$(cat /workspace/from-host.txt)"
say escape_bytes "$(cat /workspace/escape-abs /workspace/escape-rel 2>/dev/null | wc -c)"
echo guest-data > /workspace/from-guest.txt
mkdir -p /workspace/guest-dir && printf '#!/bin/sh\necho run\n' > /workspace/guest-dir/tool.sh && chmod 755 /workspace/guest-dir/tool.sh
say git "$(git --version | cut -d' ' -f1-2)"
echo to-stderr >&2
exit 7
`

describe('qemu driver: one VM, many checks', function () {
  this.timeout(900_000)
  const skip = vmSkipReason()
  let result: VmResult
  let assets: VmTestAssets | undefined
  let out: Record<string, string> = {}
  let root: string
  let workspace: string
  let hostConnections = 0
  let tcpServer: Server
  let proxy: HttpServer
  const proxied: string[] = []
  const canary = `kit-canary-${process.pid}-${Date.now()}`

  before(async function () {
    if (skip) {
      console.log(`    (skipped: ${skip})`)
      this.skip()
    }
    assets = await vmTestAssets()
    root = mkdtempSync(join(tmpdir(), 'kit-vm-test-'))
    workspace = join(root, 'project')
    mkdirSync(workspace)
    writeFileSync(join(root, canary), 'the guest must not see this\n') // beside the workspace
    writeFileSync(join(workspace, 'from-host.txt'), 'host-data\n')
    writeFileSync(join(workspace, 'existing.txt'), 'user-owned\n')
    // Symlinks in the workspace that point at the host canary resolve inside the guest instead.
    symlinkSync(join(root, canary), join(workspace, 'escape-abs'))
    symlinkSync(`../${canary}`, join(workspace, 'escape-rel'))

    // Two kit layers: layer 1 overrides layer 0's hello.sh (later kit wins).
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

    tcpServer = createServer(s => {
      hostConnections++
      s.end('host-secret-service\n')
    })
    await new Promise<void>(r => tcpServer.listen(0, '127.0.0.1', r))
    proxy = createHttpServer((req, res) => {
      proxied.push(`${req.method} ${req.url}`)
      res.end(`proxied ${req.method} ${req.url}\n`)
    })
    await new Promise<void>(r => proxy.listen(0, '127.0.0.1', r))

    const ca = testCaPem(root)
    const driver = new QemuDriver({imageCacheDir: assets.imageCacheDir})
    result = await driver.run({
      name: 'vm-test',
      rootfs: assets.rootfs,
      rootfsId: assets.rootfs,
      kitLayers: [l0, l1],
      workspace,
      proxy: {host: '127.0.0.1', port: (proxy.address() as AddressInfo).port},
      env: {
        KIT_TEST_VALUE: `it's "quoted" $HOME`,
        KIT_TEST_HOST_PORT: String((tcpServer.address() as AddressInfo).port),
        KIT_TEST_CANARY: canary,
        KIT_TEST_CA_LINE: ca.split('\n')[1],
      },
      caCertPem: ca,
      plan: {
        install: [
          {command: 'id -u > /var/tmp/install-root-uid'},
          {command: 'id -u > /tmp/install-agent-uid', user: '1000'},
        ],
        files: [
          {path: '/home/agent/.kitrc', content: 'workdir=${WORKDIR}\nsecond line\n', mode: '0600'},
          {path: '/home/agent/keep.txt', content: 'from-setup\n', onlyIfMissing: true},
        ],
        startup: [
          {command: ['sh', '-c', 'id -u > /tmp/startup-fg']},
          {command: ['sh', '-c', 'sleep 0.2; echo bg-$(id -u) > /tmp/startup-bg'], background: true},
        ],
        memory: renderMemory('/home/agent', 'AGENTS.md', '# Agent\n', [{name: 'node', content: 'Use node 20.'}]),
      },
      command: ['bash', '-c', PROBE],
    }, {env: assets.env})
    shareAccelVerdict(assets)
    for (const line of result.stdout.toString('utf8').split('\n')) {
      const eq = line.indexOf('=')
      if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1)
    }
  })

  after(async () => {
    if (assets) rmSync(assets.kitHome, {recursive: true, force: true})
    tcpServer?.close()
    proxy?.close()
    if (root) rmSync(root, {recursive: true, force: true})
  })

  it('returns the exit code, stdout and stderr (separately)', () => {
    assert.equal(result.exitCode, 7)
    assert.equal(result.stderr.toString(), 'to-stderr\n')
    assert.equal(out.pwd, '/workspace')
    assert.ok(result.bootMs > 0, 'bootMs is reported')
    assert.equal(out.git, 'git version', 'the Debian image has a real git')
  })

  it('runs the command as the agent (uid 1000) with HOME=/home/agent', () => {
    assert.equal(out.uid, '1000:1000')
    assert.equal(out.user, 'agent')
    assert.equal(out.home, '/home/agent')
    assert.equal(out.home_dir_owner, '1000:1000')
  })

  it('runs install commands as root by default and as the named user otherwise', () => {
    assert.equal(out.install_root_uid, '0')
    assert.equal(out.install_agent_uid, '1000')
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

  it('copies files/workspace into the workspace without overwriting the user\'s files', () => {
    assert.equal(out.ws_kit_file, 'from-kit')
    assert.equal(out.ws_existing, 'user-owned')
    assert.equal(readFileSync(join(workspace, 'kit-workspace.txt'), 'utf8'), 'from-kit\n')
  })

  it('writes the agent memory file with a kits section and one file per mixin', () => {
    assert.equal(out.memory_main, '1')
    assert.equal(out.memory_mixin, 'Use node 20.')
  })

  it('shares the workspace both ways; guest files come back usable on the host', () => {
    assert.equal(out.host_file, 'host-data')
    assert.equal(readFileSync(join(workspace, 'from-guest.txt'), 'utf8'), 'guest-data\n')
    const st = statSync(join(workspace, 'guest-dir/tool.sh'))
    assert.equal(st.mode & 0o777, 0o755)
    assert.equal(st.uid, process.getuid?.(), 'what the agent creates belongs to the host user')
  })

  it('shows only the workspace: a canary file beside it on the host is not visible', () => {
    assert.equal(out.canary_found, '0')
    assert.equal(out.escape_bytes, '0', 'a host symlink out of the workspace does not reach the host file')
  })

  it('holds only guest processes and no Docker socket', () => {
    const procs = out.procs.split(',').filter(Boolean)
    assert.ok(procs.length > 0 && procs.length < 20, `process names: ${out.procs}`)
    for (const host of ['node', 'mocha', 'qemu-system-x86', 'socat', 'dockerd']) assert.ok(!procs.includes(host), `${host} visible in the guest`)
    assert.equal(out.docker_sock, 'absent')
  })

  it('sets the proxy environment and installs the proxy CA', () => {
    assert.equal(out.proxy_env, 'http://10.0.2.100:3128|http://10.0.2.100:3128|http://10.0.2.100:3128|localhost,127.0.0.1')
    assert.equal(out.ca_env, '/usr/local/share/ca-certificates/kit-proxy-ca.crt|/etc/ssl/certs/ca-certificates.crt|/etc/ssl/certs/ca-certificates.crt')
    assert.equal(out.ca_file, '1')
    assert.equal(out.ca_in_bundle, '1')
  })

  it('passes the environment through quoting intact', () => {
    assert.equal(out.kit_env, `it's "quoted" $HOME`)
  })

  it('has no resolver: names do not resolve (localhost does)', () => {
    assert.equal(out.nameservers, '0')
    assert.equal(out.resolve, 'fail')
    assert.equal(out.resolve_localhost, 'ok')
    assert.equal(out.direct_name_rc, '6', 'curl: could not resolve host')
  })

  it('cannot reach a service on the host loopback (10.0.2.2:PORT), nor find it on its own loopback', () => {
    assert.notEqual(out.direct_host_rc, '0')
    assert.notEqual(out.guest_loopback_rc, '0')
    assert.equal(hostConnections, 0)
  })

  it('reaches the host-side proxy through the guestfwd', () => {
    assert.equal(out.via_proxy, 'proxied GET http://upstream.kit.test/hello')
    assert.deepEqual(proxied, ['GET http://upstream.kit.test/hello'])
  })

  it('leaves no QEMU or connector process behind', async () => {
    assert.deepEqual(processesMentioning(workspace), [])
    const connector = `TCP4:127.0.0.1:${(proxy.address() as AddressInfo).port}`
    for (let i = 0; i < 20 && processesMentioning(connector).length > 0; i++) await new Promise(r => setTimeout(r, 100))
    assert.deepEqual(processesMentioning(connector), [])
  })
})
