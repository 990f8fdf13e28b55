// `kit run --driver docker` end to end (the isolation suite of issue 5 on the docker driver): the
// sample agent image (scripts/build-sample-image.sh, cached per machine) with the sample mixins, a
// real Docker engine (test/support/docker.ts), the sandbox's own policy proxy, secrets bound in
// the secret store (generated here, given on stdin), and a shell agent that runs curl and git
// against local fixtures standing in for api.anthropic.com and github.com (reached through the
// proxy's test resolver). One agent run checks many things; then a `kit run` killed outright
// leaves a container that `kit stop` removes.
import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import {createServer, type AddressInfo, type Server} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {KERNEL_WARNING} from '../../runtime/docker/driver.js'
import {connectEngine, LABEL_SANDBOX} from '../../runtime/docker/engine.js'
import {assertApiCallInjected, assertGitCloneInjected, importSampleImage, startFakeUpstreams, type FakeUpstreams} from '../support/upstreams.js'
import {parseSay} from '../support/guest-conformance.js'
import {runKit, type KitResult} from '../support/cli.js'
import {leftovers, testEngine} from '../support/docker.js'
import {kitBin, repoRoot, sampleKitsDir} from '../support/paths.js'


const AGENT_SCRIPT = String.raw`
set +e
say() { printf '%s=%s\n' "$1" "$2"; }
gw=$(echo "$HTTP_PROXY" | sed -e 's,^http://,,' -e 's,:.*,,')
say whoami "$(id -u):$(pwd)"
say env_anthropic "$ANTHROPIC_API_KEY"
say env_github "$GITHUB_TOKEN"
say api "$(curl -sS -m 30 https://api.anthropic.com/v1/messages -H "x-api-key: $ANTHROPIC_API_KEY" -H 'content-type: application/json' -d '{"model":"fake"}' 2>&1)"
say blocked_http "$(curl -sS -m 30 -D - -o /dev/null http://blocked.example.com/ 2>&1 | tr -d '\r' | tr '\n' '|')"
say blocked_https "$(curl -sS -m 30 -D - -o /dev/null https://blocked.example.com/ 2>&1 | tr -d '\r' | tr '\n' '|')"
say blocked_body "$(curl -sS -m 30 http://blocked.example.com/ 2>&1)"
say connect_port "$(curl -sS -m 30 -o /dev/null -w '%{http_connect}' https://api.anthropic.com:8443/ 2>/dev/null)"
if getent hosts api.anthropic.com >/dev/null 2>&1; then say resolve ok; else say resolve fail; fi
curl --noproxy '*' -sS -m 10 -o /dev/null https://api.anthropic.com/ 2>/dev/null; say direct_rc "$?"
curl --noproxy '*' -sS -m 5 -o /dev/null "http://$gw:$KIT_TEST_HOST_PORT/" 2>/dev/null; say host_service_rc "$?"
git clone -q https://github.com/acme/demo.git /tmp/demo >/tmp/git.log 2>&1; say git_rc "$?"
say git_readme "$(cat /tmp/demo/README.md 2>/dev/null)"
say git_err "$(tr '\n' '|' < /tmp/git.log)"
say lint_all "$(test -x "$HOME/.local/bin/lint-all" && echo found || echo missing)"
say workspace_files "$(ls -A /workspace | tr '\n' ',')"
say canary_found "$(find / -xdev -name "$KIT_TEST_CANARY" 2>/dev/null | wc -l)"
say memory "$(grep -c 'kits-memory/github.md' ~/AGENTS.md)"
if [ -e /var/run/docker.sock ] || [ -e /run/docker.sock ]; then say docker_sock present; else say docker_sock absent; fi
for p in /proc/[0-9]*; do [ -n "$(tr -d '\0' < "$p/cmdline")" ] && cat "$p/comm"; done 2>/dev/null | sort -u | tr '\n' ',' > /tmp/procs
say procs "$(cat /tmp/procs)"
mkdir -p /workspace/.dump
cat /proc/[0-9]*/environ 2>/dev/null | tr '\0' '\n' > /workspace/.dump/environ
tar -cf /workspace/.dump/files.tar /home /etc /tmp /var/tmp /workspace/README.md 2>/dev/null
echo to-stderr >&2
exit 42
`

describe('kit run --driver docker: the isolation suite (real engine, the sample agent, the policy proxy)', function () {
  this.timeout(900_000)
  let base: string
  let env: NodeJS.ProcessEnv
  let ws: string
  let run: KitResult
  let up: FakeUpstreams | undefined
  const servers: Array<http.Server | https.Server | Server> = []
  let hostConnections = 0
  let canary: string
  const out: Record<string, string> = {}
  const name = `dk-iso-${process.pid}`

  const kit = (args: string[], e: NodeJS.ProcessEnv = env, input?: string) => runKit(args, {env: e, input, timeoutMs: 600_000})

  before(async function () {
    const engine = await testEngine()
    const skip = engine.skip ?? (spawnSync('sh', ['-c', 'command -v mmdebstrap']).status === 0 ? undefined : 'mmdebstrap is not installed')
    if (skip) {
      console.log(`      (skipped: ${skip})`)
      this.skip()
    }
    base = mkdtempSync(join(tmpdir(), 'kit-test-docker-cli-'))
    env = {
      ...process.env,
      ...engine.env,
      KIT_HOME: join(base, 'home'),
      KIT_SECRET_STORE: 'file',
      DBUS_SESSION_BUS_ADDRESS: '',
    }
    importSampleImage(env)

    up = await startFakeUpstreams(base, env)
    // A host service on every address: the container must not reach it through its gateway.
    const hostService = createServer((s) => {
      hostConnections++
      s.end('host-service\n')
    })
    await new Promise<void>((r) => hostService.listen(0, '0.0.0.0', () => r()))
    servers.push(hostService)
    const port = (s: {address(): unknown}) => (s.address() as AddressInfo).port

    ws = join(base, 'workspace')
    mkdirSync(ws)
    writeFileSync(join(ws, 'README.md'), 'the user project\n')
    // The agent is uid 1000 and a container shares the host's uids: the project is its.
    chownSync(ws, 1000, 1000)
    chownSync(join(ws, 'README.md'), 1000, 1000)
    canary = `kit-canary-${randomBytes(6).toString('hex')}`
    writeFileSync(join(base, canary), `${canary}\n`)
    const script = AGENT_SCRIPT.split('$KIT_TEST_CANARY').join(canary).split('$KIT_TEST_HOST_PORT').join(String(port(hostService)))
    run = await kit([
      'run', join(sampleKitsDir, 'shell-agent'), '--kit', join(sampleKitsDir, 'shellcheck'), '--kit', join(sampleKitsDir, 'github'),
      '--driver', 'docker', '--workspace', ws, '--name', name, '--report', join(base, 'report.json'),
      '--connect-to', `api.anthropic.com:443:127.0.0.1:${up.apiPort}`, '--upstream-ca', up.caPath,
      '--', 'bash', '-c', script,
    ], {...env, KIT_PROXY_CONNECT_TO: `github.com:443:127.0.0.1:${up.gitPort}`})
    Object.assign(out, parseSay(run.stdout))
  })

  after(async () => {
    await up?.close()
    for (const s of servers) await new Promise<void>((r) => s.close(() => r()))
    if (base) rmSync(base, {recursive: true, force: true})
  })

  it('runs the command as the agent in the workspace, exits with its exit code, says it shares the host kernel; --report', () => {
    assert.equal(run.code, 42, `kit run: ${run.stderr}`)
    assert.equal(out.whoami, '1000:/workspace')
    assert.match(run.stderr, /to-stderr/)
    assert.ok(run.stderr.includes(`kit: warning: ${KERNEL_WARNING}`), run.stderr)
    const report = JSON.parse(readFileSync(join(base, 'report.json'), 'utf8'))
    assert.equal(report.name, name)
    assert.equal(report.driver, 'docker')
    assert.equal(report.exitCode, 42)
    assert.ok(Number.isInteger(report.bootMs) && report.bootMs > 0)
  })

  it('made authenticated calls without having the key: the upstream saw the real key, the agent only the placeholder', () => {
    assertApiCallInjected(out, up!)
  })

  it('cloned over HTTPS with git, the token injected by the proxy', () => {
    assertGitCloneInjected(out, up!)
  })

  it('holds no real secret in the environments or files of the container, nor in its output', () => {
    const environ = readFileSync(join(ws, '.dump', 'environ'), 'utf8')
    assert.match(environ, /ANTHROPIC_API_KEY=proxy-managed/)
    const files = readFileSync(join(ws, '.dump', 'files.tar'))
    assert.ok(files.length > 10_000, 'the dump has content')
    for (const secret of [up!.anthropicKey, up!.githubToken]) {
      assert.equal(environ.includes(secret), false)
      assert.equal(files.includes(Buffer.from(secret)), false)
      assert.equal(run.stdout.includes(secret) || run.stderr.includes(secret), false)
    }
  })

  it('blocks a domain with the distinguishable 403 and refuses CONNECT to a port no rule allows', () => {
    assert.match(out.blocked_http ?? '', /^HTTP\/1\.1 403 /)
    assert.match(out.blocked_http ?? '', /x-kit-policy:/i)
    assert.match(out.blocked_https ?? '', /HTTP\/1\.1 403 /)
    assert.match(out.blocked_body ?? '', /blocked_by_policy/)
    assert.equal(out.connect_port, '403')
  })

  it('resolves no name, and nothing leaves but through the proxy: not directly, not to a host service via the gateway', () => {
    assert.equal(out.resolve, 'fail')
    assert.notEqual(out.direct_rc, '0')
    assert.notEqual(out.host_service_rc, '0')
    assert.equal(hostConnections, 0)
  })

  it('shows only the workspace, stacks the mixins, holds only its own processes and no Docker socket', () => {
    assert.equal(out.canary_found, '0')
    assert.match(out.workspace_files ?? '', /README\.md/)
    assert.match(out.workspace_files ?? '', /\.shellcheckrc/, 'files/workspace of the shellcheck mixin')
    assert.equal(out.lint_all, 'found', 'files/home of the shellcheck mixin')
    assert.equal(out.memory, '1')
    assert.equal(out.docker_sock, 'absent')
    for (const host of ['node', 'dockerd', 'containerd', 'systemd']) assert.ok(!(out.procs ?? '').split(',').includes(host), `${host} visible: ${out.procs}`)
  })

  it('leaves no container, network or firewall rule after the run', async () => {
    assert.deepEqual(await leftovers(env, name), {containers: 0, networks: 0, rules: 0})
  })

  it('kit exec runs in the running container; a `kit run` killed outright leaves its container; `kit stop` removes it, its network and its rules', async () => {
    const child = spawn(process.execPath, [kitBin, 'run', '--name', name, '--', 'sleep', '300'], {env, cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe']})
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const exited = new Promise<void>((r) => child.on('exit', () => r()))
    const docker = await connectEngine(env)
    const filters = JSON.stringify({label: [`${LABEL_SANDBOX}=${name}`], status: ['running']})
    let running = 0
    for (let i = 0; i < 600 && running === 0 && child.exitCode === null; i++) {
      running = (await docker.listContainers({filters})).length
      if (!running) await new Promise((r) => setTimeout(r, 200))
    }
    assert.equal(running, 1, `the container runs: ${stderr}`)
    // kit exec reaches the running container (beside the command): as the agent, in the workspace.
    let ex = await kit(['exec', name, '--', 'sh', '-c', 'echo "$(id -u):$(pwd):$ANTHROPIC_API_KEY"; exit 4'])
    for (let i = 0; i < 50 && ex.code !== 4; i++) {
      await new Promise((r) => setTimeout(r, 200)) // the control socket may not be up yet
      ex = await kit(['exec', name, '--', 'sh', '-c', 'echo "$(id -u):$(pwd):$ANTHROPIC_API_KEY"; exit 4'])
    }
    assert.equal(ex.code, 4, ex.stderr)
    assert.equal(ex.stdout, '1000:/workspace:proxy-managed\n')
    // kit stats counts the container's processes (the engine's children, not kit run's).
    const stats = await kit(['stats', name, '--json'])
    assert.equal(stats.code, 0, stats.stderr)
    const top = (await docker.getContainer((await docker.listContainers({filters}))[0]!.Id).top({ps_args: '-o pid'})) as {Processes: string[][]}
    const inContainer = top.Processes.map((r) => Number(r[0]))
    assert.ok(inContainer.length > 0 && inContainer.every((p) => stats.json.process.pids.includes(p)), JSON.stringify(stats.json.process))
    child.kill('SIGKILL')
    await exited
    const left = await leftovers(env, name)
    assert.equal(left.containers, 1, 'the killed run could not clean up')
    assert.ok(left.rules > 0)
    const stop = await kit(['stop', name])
    assert.equal(stop.code, 0, stop.stderr)
    assert.deepEqual(await leftovers(env, name), {containers: 0, networks: 0, rules: 0})
    const rm = await kit(['rm', name])
    assert.equal(rm.code, 0, rm.stderr)
  })
})
