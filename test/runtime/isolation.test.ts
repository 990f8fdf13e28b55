// The isolation suite of issue 5, end to end through `kit run`: the sample agent image (built with
// scripts/build-sample-image.sh, cached per machine) with the sample mixins, a real VM, the
// sandbox's own policy proxy, secrets bound in the secret store (values generated here, given on
// stdin), and a shell agent that runs curl and git against local fixtures standing in for
// api.anthropic.com and github.com (reached through the proxy's test resolver). One agent run
// checks many things; a second run (`kit run --name`, no kit flags) proves the sandbox keeps its
// kit set. VM-level checks (processes, Docker socket, host loopback, uid, layers) live in
// test/vm; this file checks what needs the runtime: credentials, policy, composition, state.
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import {join} from 'node:path'
import {assertApiCallInjected, assertGitCloneInjected, importSampleImage, sampleAgentSkipReason, startFakeUpstreams, type FakeUpstreams} from '../support/upstreams.js'
import {parseSay} from '../support/guest-conformance.js'
import {runKit} from '../support/cli.js'
import {sampleKitsDir} from '../support/paths.js'
import {shareAccelVerdict, vmTestAssets, type VmTestAssets} from '../vm/support.js'


interface Ran {
  code: number | null
  stdout: string
  stderr: string
}

const kit = (args: string[], env: NodeJS.ProcessEnv, input?: string, timeoutMs = 240_000): Promise<Ran> => runKit(args, {env, input, timeoutMs})


const AGENT_SCRIPT = String.raw`
set +e
say() { printf '%s=%s\n' "$1" "$2"; }
say env_anthropic "$ANTHROPIC_API_KEY"
say env_github "$GITHUB_TOKEN"
say api "$(curl -sS -m 30 https://api.anthropic.com/v1/messages -H "x-api-key: $ANTHROPIC_API_KEY" -H 'content-type: application/json' -d '{"model":"fake"}' 2>&1)"
say blocked_http "$(curl -sS -m 30 -D - -o /dev/null http://blocked.example.com/ 2>&1 | tr -d '\r' | tr '\n' '|')"
say blocked_https "$(curl -sS -m 30 -D - -o /dev/null https://blocked.example.com/ 2>&1 | tr -d '\r' | tr '\n' '|')"
say blocked_body "$(curl -sS -m 30 http://blocked.example.com/ 2>&1)"
say connect_port "$(curl -sS -m 30 -o /dev/null -w '%{http_connect}' https://api.anthropic.com:8443/ 2>/dev/null)"
if getent hosts api.anthropic.com >/dev/null 2>&1; then say resolve ok; else say resolve fail; fi
curl --noproxy '*' -sS -m 10 -o /dev/null https://api.anthropic.com/ 2>/dev/null; say direct_rc "$?"
git clone -q https://github.com/acme/demo.git /tmp/demo >/tmp/git.log 2>&1; say git_rc "$?"
say git_readme "$(cat /tmp/demo/README.md 2>/dev/null)"
say git_err "$(tr '\n' '|' < /tmp/git.log)"
say shellcheck_rc "$(test -x "$HOME/.local/bin/lint-all" && echo found || echo missing)"
say workspace_files "$(ls -A /workspace | tr '\n' ',')"
say canary_found "$(find / -xdev -name "$KIT_TEST_CANARY" 2>/dev/null | wc -l)$(grep -rl "$KIT_TEST_CANARY" /workspace 2>/dev/null | wc -l)"
say memory "$(grep -c 'kits-memory/github.md' ~/AGENTS.md)"
# What the guest holds, for the host to scan for the real secret values.
mkdir -p /workspace/.dump
cat /proc/[0-9]*/environ 2>/dev/null | tr '\0' '\n' > /workspace/.dump/environ
tar -cf /workspace/.dump/files.tar /home /etc /tmp /var/tmp /workspace/README.md 2>/dev/null
echo to-stderr >&2
exit 42
`

describe('kit run: the isolation suite (one real VM, the sample agent, the policy proxy)', function () {
  this.timeout(600_000)
  let base: string
  let assets: VmTestAssets
  let env: NodeJS.ProcessEnv
  let ws: string
  let run: Ran
  let up: FakeUpstreams | undefined
  let canary: string
  const out: Record<string, string> = {}

  before(async function () {
    const skip = sampleAgentSkipReason()
    if (skip) {
      console.log(`      (skipped: ${skip})`)
      this.skip()
    }
    assets = await vmTestAssets()
    base = join(assets.kitHome, 'isolation')
    mkdirSync(base, {recursive: true})
    env = {
      ...assets.env,
      KIT_SECRET_STORE: 'file',
      DBUS_SESSION_BUS_ADDRESS: '',
    }
    // The agent image, built once per machine (cached tarball) and imported into this KIT_HOME.
    importSampleImage(env)

    // Fixtures: a fake api.anthropic.com and a git server as github.com, with a test CA.
    up = await startFakeUpstreams(base, env)

    ws = join(base, 'workspace')
    mkdirSync(ws)
    writeFileSync(join(ws, 'README.md'), 'the user project\n')
    canary = `kit-canary-${randomBytes(6).toString('hex')}`
    writeFileSync(join(base, canary), `${canary}\n`) // beside the workspace, not in it
    run = await kit([
      'run', join(sampleKitsDir, 'shell-agent'), '--kit', join(sampleKitsDir, 'shellcheck'), '--kit', join(sampleKitsDir, 'github'),
      '--workspace', ws, '--name', 'iso', '--report', join(base, 'report.json'),
      '--connect-to', `api.anthropic.com:443:127.0.0.1:${up.apiPort}`, '--upstream-ca', up.caPath,
      '--', 'bash', '-c', AGENT_SCRIPT.split('$KIT_TEST_CANARY').join(canary),
    ], {...env, KIT_PROXY_CONNECT_TO: `github.com:443:127.0.0.1:${up.gitPort}`})
    shareAccelVerdict(assets)
    Object.assign(out, parseSay(run.stdout))
  })

  after(async () => {
    await up?.close()
    if (assets?.kitHome) rmSync(assets.kitHome, {recursive: true, force: true})
  })

  it('runs the command as the agent and exits with its exit code; --report has name, driver, bootMs, exitCode', () => {
    assert.equal(run.code, 42, `kit run: ${run.stderr}`)
    assert.match(run.stderr, /to-stderr/)
    const report = JSON.parse(readFileSync(join(base, 'report.json'), 'utf8'))
    assert.equal(report.name, 'iso')
    assert.equal(report.driver, 'qemu')
    assert.equal(report.exitCode, 42)
    assert.ok(Number.isInteger(report.bootMs) && report.bootMs > 0)
  })

  it('made authenticated calls without having the key: the fake upstream saw the real key, the guest only the placeholder', () => {
    assertApiCallInjected(out, up!)
  })

  it('cloned over HTTPS with git, the token injected as HTTP Basic by the proxy', () => {
    assertGitCloneInjected(out, up!)
  })

  it('holds no real secret anywhere the agent can read (environments, files), nor in the sandbox state', () => {
    const dump = join(ws, '.dump')
    const environ = readFileSync(join(dump, 'environ'), 'utf8')
    assert.match(environ, /ANTHROPIC_API_KEY=proxy-managed/)
    const files = readFileSync(join(dump, 'files.tar'))
    assert.ok(files.length > 10_000, 'the dump has content')
    for (const secret of [up!.anthropicKey, up!.githubToken]) {
      assert.equal(environ.includes(secret), false)
      assert.equal(files.includes(Buffer.from(secret)), false)
      assert.equal(run.stdout.includes(secret) || run.stderr.includes(secret), false)
      const walk = (d: string): void => {
        for (const n of readdirSync(d)) {
          const p = join(d, n)
          const st = statSync(p)
          if (st.isDirectory()) walk(p)
          else if (st.size < 64 << 20) assert.equal(readFileSync(p).includes(Buffer.from(secret)), false, `${p} holds a secret`)
        }
      }
      walk(join(assets.kitHome, 'sandboxes'))
    }
  })

  it('blocks a domain with the distinguishable 403 (X-Kit-Policy, blocked_by_policy), over HTTP and at CONNECT', () => {
    assert.match(out.blocked_http ?? '', /^HTTP\/1\.1 403 /)
    assert.match(out.blocked_http ?? '', /x-kit-policy:/i)
    assert.match(out.blocked_https ?? '', /HTTP\/1\.1 403 /)
    assert.match(out.blocked_https ?? '', /x-kit-policy:/i)
    assert.match(out.blocked_body ?? '', /blocked_by_policy/)
  })

  it('refuses CONNECT to a port of an allowed host that no rule allows', () => {
    assert.equal(out.connect_port, '403')
  })

  it('resolves no name in the guest, and nothing leaves it but through the proxy', () => {
    assert.equal(out.resolve, 'fail')
    assert.notEqual(out.direct_rc, '0')
  })

  it('shows only the workspace (the canary beside it is not visible) and stacks the mixins', () => {
    assert.equal(out.canary_found, '00')
    assert.match(out.workspace_files ?? '', /README\.md/)
    assert.match(out.workspace_files ?? '', /\.shellcheckrc/, 'files/workspace of the shellcheck mixin')
    assert.equal(readFileSync(join(ws, 'README.md'), 'utf8'), 'the user project\n')
    assert.equal(out.shellcheck_rc, 'found', 'files/home of the shellcheck mixin (lint-all on PATH)')
    assert.equal(out.memory, '1')
  })

  it('records the egress: kit logs and kit stats show allowed and blocked requests', async () => {
    const stats = await kit(['stats', 'iso', '--json'], env)
    assert.equal(stats.code, 0, stats.stderr)
    const s = JSON.parse(stats.stdout)
    assert.equal(s.state, 'exited')
    assert.ok(s.egress.blocked >= 3, `blocked: ${s.egress.blocked}`)
    assert.ok(s.egress.allowed >= 2)
    assert.ok(s.egress.bytesDown > 0)
    const logs = await kit(['logs', 'iso', '--egress'], env)
    assert.equal(logs.code, 0, logs.stderr)
    assert.match(logs.stdout, /DENY .*blocked\.example\.com/)
    assert.match(logs.stdout, /ALLOW .*api\.anthropic\.com.*injected=anthropic/)
  })

  it('starts again with no kit flags (`kit run --name`): same kits, same workspace, exit code propagated', async () => {
    const again = await kit(['run', '--name', 'iso', '--', 'sh', '-c', 'test -f /workspace/README.md && test -x "$HOME/.local/bin/lint-all" && echo "again:$ANTHROPIC_API_KEY"; exit 3'], env)
    assert.equal(again.code, 3, again.stderr)
    assert.match(again.stdout, /^again:proxy-managed$/m)
    const stop = await kit(['stop', 'iso'], env)
    assert.equal(stop.code, 0)
    assert.match(stop.stdout, /was not running/)
  })
})
