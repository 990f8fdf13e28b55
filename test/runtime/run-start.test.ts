// `kit run` papercuts of issue 11 that need no VM, driven through the CLI as a user would: a start
// that fails after the sandbox was set up (a tiny imported image, an upstream CA file that cannot
// be read) says in one line what failed, names no sandbox and leaves none listed, with or without
// --detach (which picks a name when none is given); the first run shows what it unpacks, one line
// per stage without a terminal, none with --quiet or --json; the file-store notice shows only when
// a secret is stored. The VM side (--rm, -d without --name, PATH) is test/runtime/run-papercuts.
import assert from 'node:assert/strict'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {cleanupKits, makeKit} from '../support/kit-dir.js'
import {errorLine, runKit, writeTinyRootfs} from '../support/cli.js'


const AGENT = `schemaVersion: "2"
kind: sandbox
name: tiny-agent
sandbox:
  image: localhost/tiny:1
  entrypoint: [sh]
credentials:
  - service: anthropic
    apiKey:
      name: ANTHROPIC_API_KEY
      proxyManaged: true
      inject:
        - domain: api.anthropic.com
          header: x-api-key
          format: "%s"
`

describe('kit run: a failed start, first-run progress lines, the secret store notice (no VM)', function () {
  this.timeout(180_000)
  let home: string
  let env: NodeJS.ProcessEnv
  let ws: string
  let agent: string
  const kit = (args: string[], input?: string) => runKit(args, {env, input})
  const sandboxes = () => readdirSync(join(home, 'sandboxes'), {withFileTypes: true}).filter((d) => !d.name.startsWith('.')).map((d) => d.name)

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'kit-run-start-'))
    // No D-Bus: the file store; the notice is what is under test.
    env = {...process.env, KIT_HOME: home, DBUS_SESSION_BUS_ADDRESS: '', KIT_SECRET_STORE: ''}
    delete env.CI
    ws = join(home, 'ws')
    mkdirSync(ws)
    mkdirSync(join(home, 'sandboxes'))
    await writeTinyRootfs(join(home, 'rootfs.tar'))
    const imp = await kit(['image', 'import', join(home, 'rootfs.tar'), '--tag', 'localhost/tiny:1'])
    assert.equal(imp.code, 0, imp.stderr)
    agent = makeKit(AGENT)
  })
  after(() => {
    cleanupKits()
    rmSync(home, {recursive: true, force: true})
  })

  it('a start that fails after set-up says what failed in one line, names no sandbox, leaves none listed; the first run shows the image unpack', async () => {
    const r = await kit(['run', agent, '--workspace', ws, '--upstream-ca', join(home, 'no-such-ca.pem'), '--', 'true'])
    assert.equal(r.code, 1, r.stderr)
    assert.match(errorLine(r.stderr), /^kit: upstream CA file .*no-such-ca\.pem cannot be read$/)
    // Progress without a terminal: one line per stage.
    assert.match(r.stderr, /^kit: unpacking image localhost\/tiny:1 \(1 layer, [0-9.]+ MB; once per image\)$/m)
    assert.doesNotMatch(r.stderr, /tiny-agent-[0-9a-f]{6}/, 'no name of a sandbox that does not exist')
    assert.doesNotMatch(r.stderr, /kit run --name/)
    // The kit declares a credential, but nothing was stored: no notice about where secrets go.
    assert.doesNotMatch(r.stderr, /encrypted file|keychain/)
    assert.deepEqual(sandboxes(), [])
    const ls = await kit(['ls', '--json'])
    assert.deepEqual(ls.json.sandboxes, [])
  })

  it('with --name, the failed new sandbox is not kept either (kit run --name NAME would not find a sandbox that never ran)', async () => {
    const r = await kit(['run', agent, '--workspace', ws, '--name', 'never', '--upstream-ca', join(home, 'no-such-ca.pem'), '--', 'true'])
    assert.equal(r.code, 1)
    assert.match(errorLine(r.stderr), /upstream CA file/)
    assert.doesNotMatch(r.stderr, /unpacking image/, 'unpacked once')
    assert.deepEqual(sandboxes(), [])
    const again = await kit(['run', '--name', 'never', '--', 'true'])
    assert.equal(again.code, 1)
    assert.match(errorLine(again.stderr), /no sandbox named never/)
  })

  it('kit run -d without --name picks a name; a failed start says so in one line and leaves nothing', async () => {
    const r = await kit(['run', '-d', agent, '--workspace', ws, '--upstream-ca', join(home, 'no-such-ca.pem')])
    assert.equal(r.code, 1, r.stderr)
    // The name picked: the agent's directory (or repository) name and 6 hex digits.
    const base = agent.split('/').pop()!.toLowerCase()
    assert.match(errorLine(r.stderr), new RegExp(`^kit: sandbox ${base}-[0-9a-f]{6} did not start: upstream CA file .*no-such-ca\\.pem cannot be read$`))
    assert.deepEqual(sandboxes(), [])
    assert.deepEqual((await kit(['ls', '--json'])).json.sandboxes, [])
  })

  it('kit run --rm of a sandbox another kit run is running refuses and removes nothing', async () => {
    const dir = join(home, 'sandboxes', 'busy')
    mkdirSync(dir)
    writeFileSync(join(dir, 'sandbox.json'), JSON.stringify({
      version: 1, name: 'busy', created: new Date().toISOString(), agent: 'tiny-agent',
      kits: [{input: agent, source: 'dir', dir: agent, name: 'tiny-agent', kind: 'sandbox'}],
      args: {}, image: {reference: 'localhost/tiny:1'}, config: {workspace: ws, driver: 'qemu'},
    }))
    // Its owner: this test's process (alive).
    writeFileSync(join(dir, 'state.json'), JSON.stringify({state: 'running', pid: process.pid, startedAt: new Date().toISOString(), driver: 'qemu'}))
    const r = await kit(['run', '--rm', '--name', 'busy', '--', 'true'])
    assert.equal(r.code, 1)
    assert.match(errorLine(r.stderr), /sandbox busy is already running/)
    assert.ok(existsSync(join(dir, 'sandbox.json')), 'the running sandbox is left alone')
    rmSync(dir, {recursive: true, force: true})
  })

  it('--quiet and --json show no progress lines', async () => {
    rmSync(join(home, 'cache', 'images'), {recursive: true, force: true})
    const q = await kit(['run', agent, '--quiet', '--workspace', ws, '--upstream-ca', join(home, 'no-such-ca.pem'), '--', 'true'])
    assert.equal(q.code, 1)
    assert.doesNotMatch(q.stderr, /unpacking/)
    rmSync(join(home, 'cache', 'images'), {recursive: true, force: true})
    const j = await kit(['run', agent, '--json', '--workspace', ws, '--upstream-ca', join(home, 'no-such-ca.pem'), '--', 'true'])
    assert.equal(j.code, 1)
    assert.doesNotMatch(j.stderr, /unpacking/)
    assert.match(j.json?.error?.message ?? '', /upstream CA file/)
  })

  it('the file-store notice shows when a secret is stored, not when secrets are listed or read', async () => {
    const ls = await kit(['secret', 'ls'])
    assert.equal(ls.code, 0, ls.stderr)
    assert.doesNotMatch(ls.stderr, /encrypted file/)
    const set = await kit(['secret', 'set', 'anthropic'], `sk-test-${Date.now()}\n`)
    assert.equal(set.code, 0, set.stderr)
    assert.match(set.stderr, /^kit: no OS keychain \(no D-Bus session\): secrets are kept in an encrypted file, /m)
    const again = await kit(['secret', 'ls'])
    assert.doesNotMatch(again.stderr, /encrypted file/)
  })
})
