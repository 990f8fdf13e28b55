// The guest contract every sandbox driver keeps (test/vm/qemu.test.ts, test/docker/driver.test.ts):
// one fixture (two kit layers, a workspace with a canary beside it, a plan, the environment, a host
// service the sandbox must not reach and a recording host-side proxy), one probe the driver's
// sandbox runs, and the checks on what it printed and what the host saw. Each driver file boots
// once, adds its own probe lines and checks, and declares these checks inside its describe.
import assert from 'node:assert/strict'
import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {createServer as createHttpServer, type Server as HttpServer} from 'node:http'
import {createServer, type AddressInfo, type Server} from 'node:net'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import type {VmResult, VmSpec} from '../../runtime/vm/driver.js'
import {renderMemory} from '../../runtime/vm/plan.js'
import {testCaPem} from '../vm/support.js'

/**
 * The probe's common lines: each `say KEY VALUE` prints `KEY=VALUE` (read back by parseSay). The
 * driver's own lines come after them (`guestProbe`); they must `say host_rc` with curl's exit
 * code when it asks, without the proxy, for the host service at the host's address as the
 * sandbox sees it ($KIT_TEST_HOST_PORT).
 */
const COMMON_PROBE = String.raw`
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
if getent hosts localhost >/dev/null 2>&1; then say resolve_localhost ok; else say resolve_localhost fail; fi
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
`

const PROBE_END = String.raw`
say git "$(git --version | cut -d' ' -f1-2)"
echo to-stderr >&2
exit 7
`

/** The probe script (for `bash -c`): the common lines, then the driver's own, then the exit (7). */
export function guestProbe(driverLines: string): string {
  return COMMON_PROBE + driverLines.replace(/^\n+|\n+$/g, '') + PROBE_END
}

/** The probe's `KEY=VALUE` lines as a record (a line without `=`, or starting with it, is skipped). */
export function parseSay(stdout: Buffer | string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of stdout.toString().split('\n')) {
    const eq = line.indexOf('=')
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1)
  }
  return out
}

type Tree = Record<string, string | {content: string; mode: number}>

function writeTree(dir: string, files: Tree): void {
  for (const [rel, body] of Object.entries(files)) {
    const path = join(dir, rel)
    mkdirSync(dirname(path), {recursive: true})
    writeFileSync(path, typeof body === 'string' ? body : body.content)
    if (typeof body !== 'string') chmodSync(path, body.mode)
  }
}

export interface GuestFixture {
  /** A temp dir holding everything below; removed by close(). */
  root: string
  /** The project shared with the sandbox (root/project); the canary file lies beside it. */
  workspace: string
  canary: string
  caPem: string
  /** What every driver run of the contract is given (the driver adds name, rootfs, command). */
  spec: Required<Pick<VmSpec, 'kitLayers' | 'workspace' | 'proxy' | 'env' | 'caCertPem' | 'plan'>>
  /** The host-side proxy: answers every request with `proxied METHOD URL` and records it here. */
  proxy: HttpServer
  proxied: string[]
  /** Connections the host service (which the sandbox must not reach) has accepted. */
  hostConnections(): number
  close(): void
}

/**
 * Builds the fixture: `tmpPrefix` names the temp dir, `hostServiceAddress` is where the host
 * service listens (127.0.0.1, or 0.0.0.0 to be on a container gateway's address too).
 */
export async function guestFixture(tmpPrefix: string, hostServiceAddress: string): Promise<GuestFixture> {
  const root = mkdtempSync(join(tmpdir(), tmpPrefix))
  const workspace = join(root, 'project')
  const canary = `kit-canary-${process.pid}-${Date.now()}`
  mkdirSync(workspace)
  writeFileSync(join(root, canary), 'the sandbox must not see this\n') // beside the workspace
  writeTree(workspace, {'from-host.txt': 'host-data\n', 'existing.txt': 'user-owned\n'})
  // Symlinks in the workspace that point at the host canary resolve inside the sandbox instead.
  symlinkSync(join(root, canary), join(workspace, 'escape-abs'))
  symlinkSync(`../${canary}`, join(workspace, 'escape-rel'))

  // Two kit layers: layer 1 overrides layer 0's hello.sh (later kit wins).
  const layers = [join(root, 'layer0'), join(root, 'layer1')]
  writeTree(layers[0]!, {
    'home/agent/bin/hello.sh': {content: '#!/bin/sh\necho hello from layer0\n', mode: 0o755},
    'home/agent/keep.txt': 'from-layer\n',
    'workspace/kit-workspace.txt': 'from-kit\n',
    'workspace/existing.txt': 'from-kit-must-not-win\n',
  })
  writeTree(layers[1]!, {
    'home/agent/bin/hello.sh': {content: '#!/bin/sh\necho hello from layer1\n', mode: 0o755},
    'home/agent/.config/kit-test/settings.txt': 'x=1\n',
  })

  let connections = 0
  const hostService: Server = createServer((s) => {
    connections++
    s.end('host-secret-service\n')
  })
  await new Promise<void>((r) => hostService.listen(0, hostServiceAddress, r))
  const proxied: string[] = []
  const proxy = createHttpServer((req, res) => {
    proxied.push(`${req.method} ${req.url}`)
    res.end(`proxied ${req.method} ${req.url}\n`)
  })
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))

  const caPem = testCaPem(root)
  return {
    root,
    workspace,
    canary,
    caPem,
    spec: {
      kitLayers: layers,
      workspace,
      proxy: {host: '127.0.0.1', port: (proxy.address() as AddressInfo).port},
      env: {
        KIT_TEST_VALUE: `it's "quoted" $HOME`,
        KIT_TEST_HOST_PORT: String((hostService.address() as AddressInfo).port),
        KIT_TEST_CANARY: canary,
        KIT_TEST_CA_LINE: caPem.split('\n')[1]!,
      },
      caCertPem: caPem,
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
    },
    proxy,
    proxied,
    hostConnections: () => connections,
    close() {
      hostService.close()
      proxy.close()
      rmSync(root, {recursive: true, force: true})
    },
  }
}

/** One run of the probe (guestProbe) with the fixture's spec, as the checks read it. */
export interface GuestRun {
  fixture: GuestFixture
  result: VmResult
  /** parseSay of the result's stdout. */
  out: Record<string, string>
}

/** What differs by driver in the common checks. */
export interface GuestExpectations {
  /** HTTP_PROXY (and HTTPS_PROXY, http_proxy) as the sandbox is given it: exactly, or a pattern. */
  proxyUrl: string | RegExp
  /** Who owns, on the host, what the agent writes into the workspace. */
  agentFilesHostUid: number | undefined
  /** Host processes the sandbox must not see, besides node, mocha, dockerd and qemu-system-x86. */
  hostProcesses: string[]
}

/** The checks on the probe's output alone: what each claim needs the probe to have said. */
const SAYS: [title: string, says: Record<string, string>][] = [
  ['runs the command as the agent (uid 1000) with HOME=/home/agent', {uid: '1000:1000', user: 'agent', home: '/home/agent', home_dir_owner: '1000:1000'}],
  ['runs the plan in order: install (root by default, else the named user), files, startup', {install_root_uid: '0', install_agent_uid: '1000', order: 'install,startup,'}],
  ['lands files/home layers in /home/agent, owned by 1000, exec bits kept, later layers winning', {hello_stat: '1000:1000:755', hello_out: 'hello from layer1', settings_stat: '1000:1000:644'}],
  ['writes setup.files as uid 1000 with their mode, ${WORKDIR} substituted, onlyIfMissing honoured', {kitrc: 'workdir=/workspace|second line|', kitrc_stat: '1000:600', keep: 'from-layer'}],
  ['runs startup commands (foreground and background) as uid 1000', {startup_fg: '1000', startup_bg: 'bg-1000'}],
  ['writes the agent memory file with a kits section and one file per mixin', {memory_main: '1', memory_mixin: 'Use node 20.'}],
  // escape_bytes: a host symlink out of the workspace does not reach the host file.
  ['shows only the workspace: a canary beside it is not visible, symlinks out of it do not reach the host', {canary_found: '0', escape_bytes: '0'}],
  ['passes the environment through quoting intact', {kit_env: `it's "quoted" $HOME`}],
  // direct_name_rc 6: curl could not resolve the host.
  ['has no resolver: names do not resolve (localhost does)', {nameservers: '0', resolve: 'fail', resolve_localhost: 'ok', direct_name_rc: '6'}],
]

/**
 * Declares the common checks (call inside the driver's describe; `run` is read in each `it`, after
 * the describe's before() has run the probe).
 */
export function guestConformance(run: () => GuestRun, expect: GuestExpectations): void {
  it('returns the exit code, stdout and stderr (separately), and bootMs', () => {
    const {result, out} = run()
    assert.equal(result.exitCode, 7)
    assert.equal(result.stderr.toString(), 'to-stderr\n')
    assert.equal(out.pwd, '/workspace')
    assert.ok(result.bootMs > 0, 'bootMs is reported')
    assert.equal(out.git, 'git version', 'the Debian image has a real git')
  })

  for (const [title, says] of SAYS) {
    it(title, () => {
      const {out} = run()
      for (const [key, value] of Object.entries(says)) assert.equal(out[key], value, `the probe's ${key}`)
    })
  }

  it("copies files/workspace into the workspace without overwriting the user's files", () => {
    const {out, fixture} = run()
    assert.equal(out.ws_kit_file, 'from-kit')
    assert.equal(out.ws_existing, 'user-owned')
    assert.equal(readFileSync(join(fixture.workspace, 'kit-workspace.txt'), 'utf8'), 'from-kit\n')
  })

  it('shares the workspace both ways; what the agent writes comes back usable, owned as the driver maps it', () => {
    const {out, fixture} = run()
    assert.equal(out.host_file, 'host-data')
    assert.equal(readFileSync(join(fixture.workspace, 'from-guest.txt'), 'utf8'), 'guest-data\n')
    const tool = statSync(join(fixture.workspace, 'guest-dir/tool.sh'))
    assert.equal(tool.mode & 0o777, 0o755)
    for (const [what, st] of [['from-guest.txt', statSync(join(fixture.workspace, 'from-guest.txt'))], ['guest-dir/tool.sh', tool]] as const) {
      assert.equal(st.uid, expect.agentFilesHostUid, `owner on the host of ${what} the agent wrote`)
    }
  })

  it('holds only its own processes and no Docker socket', () => {
    const {out} = run()
    const procs = out.procs!.split(',').filter(Boolean)
    assert.ok(procs.length > 0 && procs.length < 20, `process names: ${out.procs}`)
    for (const host of ['node', 'mocha', 'dockerd', 'qemu-system-x86', ...expect.hostProcesses]) assert.ok(!procs.includes(host), `${host} visible in the sandbox`)
    assert.equal(out.docker_sock, 'absent')
  })

  it('sets the proxy environment and installs the proxy CA', () => {
    const {out} = run()
    const [httpProxy] = out.proxy_env!.split('|')
    if (typeof expect.proxyUrl === 'string') assert.equal(httpProxy, expect.proxyUrl)
    else assert.match(httpProxy!, expect.proxyUrl)
    assert.equal(out.proxy_env, `${httpProxy}|${httpProxy}|${httpProxy}|localhost,127.0.0.1`)
    assert.equal(out.ca_env, '/usr/local/share/ca-certificates/kit-proxy-ca.crt|/etc/ssl/certs/ca-certificates.crt|/etc/ssl/certs/ca-certificates.crt')
    assert.equal(out.ca_file, '1')
    assert.equal(out.ca_in_bundle, '1')
  })

  it("cannot reach a host service at the host's address, nor find it on its own loopback", () => {
    const {out, fixture} = run()
    assert.ok(out.host_rc !== undefined, "the driver's probe lines say host_rc")
    assert.notEqual(out.host_rc, '0')
    assert.notEqual(out.guest_loopback_rc, '0')
    assert.equal(fixture.hostConnections(), 0)
  })

  it('reaches the host-side proxy', () => {
    const {out, fixture} = run()
    assert.equal(out.via_proxy, 'proxied GET http://upstream.kit.test/hello')
    assert.deepEqual(fixture.proxied, ['GET http://upstream.kit.test/hello'])
  })
}
