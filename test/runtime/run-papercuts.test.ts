// `kit run` papercuts of issue 11 that need a real VM, through the CLI as a user drives it (five
// boots of the sample agent with the shellcheck mixin, whose lint-all helper is in
// files/home/.local/bin): ^C on a terminal ends a `--rm` run and removes the sandbox, the first
// run showing what it unpacks and builds, the helper on PATH for `sh -c`; a `--rm` run that exits
// removes it too; a setup step that fails shows its output and leaves no sandbox; `kit run -d`
// without --name picks a name that kit ls, exec, stop and rm take; -d --rm is gone after kit stop.
// What needs no VM (a failed start, --quiet, the secret notice) is test/runtime/run-start.
import assert from 'node:assert/strict'
import {existsSync, mkdirSync, readdirSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {importSampleImage, sampleAgentSkipReason} from '../support/upstreams.js'
import {runKit} from '../support/cli.js'
import {runInPty} from '../support/pty.js'
import {kitBin, sampleKitsDir} from '../support/paths.js'
import {cleanupKits, makeKit, mixin} from '../support/kit-dir.js'
import {shareAccelVerdict, vmTestAssets, type VmTestAssets} from '../vm/support.js'

describe('kit run on a VM: --rm, -d without --name, first-run progress, mixin helpers on PATH', function () {
  this.timeout(600_000)
  let assets: VmTestAssets
  let env: NodeJS.ProcessEnv
  let ws: string
  const kit = (args: string[]) => runKit(args, {env, timeoutMs: 300_000})
  const agent = join(sampleKitsDir, 'shell-agent')
  const shellcheck = join(sampleKitsDir, 'shellcheck')
  const sandboxes = () => (existsSync(join(assets.kitHome, 'sandboxes')) ? readdirSync(join(assets.kitHome, 'sandboxes')).filter((n) => !n.startsWith('.')) : [])

  before(async function () {
    const skip = sampleAgentSkipReason()
    if (skip) {
      console.log(`      (skipped: ${skip})`)
      this.skip()
    }
    assets = await vmTestAssets()
    // No D-Bus and no KIT_SECRET_STORE: the file store, whose notice must not show (nothing is stored).
    env = {...assets.env, DBUS_SESSION_BUS_ADDRESS: '', KIT_SECRET_STORE: ''}
    delete env.CI
    importSampleImage(env)
    ws = join(assets.kitHome, 'ws')
    mkdirSync(ws)
  })

  after(() => {
    cleanupKits()
    if (assets?.kitHome) {
      shareAccelVerdict(assets)
      rmSync(assets.kitHome, {recursive: true, force: true})
    }
  })

  it('on a terminal, ^C ends a --rm run and removes the sandbox; the first run shows its stages; lint-all is on PATH for sh -c', async () => {
    const r = await runInPty(
      [process.execPath, kitBin, 'run', '--rm', agent, '--kit', shellcheck, '--workspace', ws, '--', 'sh', '-c', 'echo "lint=$(command -v lint-all)"; echo "REA""DY"; sleep 600'],
      [{expect: 'READY', send: '\x03'}],
      {env, timeoutMs: 300_000},
    )
    const out = r.output.replace(/\r/g, '')
    assert.equal(r.code, 130, out)
    assert.match(out, /^kit: unpacking image localhost\/kit-shell-agent:bookworm \([0-9]+ layers?, [0-9.]+ MB; once per image\)$/m)
    assert.match(out, /^kit: building root image \([0-9.]+ MB, [0-9]+ files; once per image\)$/m)
    assert.match(out, /^kit: sandbox shell-agent-[0-9a-f]{6} \(removed when it ends: --rm\)$/m)
    assert.match(out, /^lint=\/home\/agent\/\.local\/bin\/lint-all$/m)
    assert.match(out, /was stopped \(SIGINT\)/)
    assert.doesNotMatch(out, /encrypted file|keychain/, 'no secret was stored: no notice about where secrets go')
    assert.deepEqual(sandboxes(), [])
  })

  it('a --rm run that exits (here with 3) removes its sandbox; the second run fetches and builds nothing', async () => {
    const r = await kit(['run', '--rm', '--name', 'once', agent, '--workspace', ws, '--', 'sh', '-c', 'exit 3'])
    assert.equal(r.code, 3, r.stderr)
    assert.doesNotMatch(r.stderr, /unpacking|building root image|fetching kernel/)
    assert.deepEqual(sandboxes(), [])
  })

  it('a setup step that fails in the VM: its output and one error line, no sandbox named or left behind', async () => {
    const broken = makeKit(mixin('setup:\n  install:\n    - command: echo "install-output-$((6*7))"; exit 7\n      description: a step that fails\n', 'broken'))
    const r = await kit(['run', agent, '--kit', broken, '--workspace', ws, '--', 'true'])
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stderr, /^ {2}\| .*install-output-42/m, 'the setup output is shown, since the sandbox (and its setup log) is not kept')
    const last = r.stderr.trimEnd().split('\n').pop()!
    assert.match(last, /^kit: guest install\[0\] failed \(exit 7\)/)
    assert.doesNotMatch(r.stderr, /shell-agent-[0-9a-f]{6}|kit run --name/)
    assert.deepEqual(sandboxes(), [])
  })

  it('kit run -d without --name picks a name and prints it; kit ls, exec (sh -c finds lint-all), stop and rm take it', async () => {
    const d = await kit(['run', '-d', agent, '--kit', shellcheck, '--workspace', ws])
    assert.equal(d.code, 0, d.stderr)
    const name = /^sandbox (\S+) runs in the background/m.exec(d.stdout)?.[1]
    assert.match(name ?? '', /^shell-agent-[0-9a-f]{6}$/, d.stdout)
    const ls = await kit(['ls', '--json'])
    assert.deepEqual(ls.json.sandboxes.map((s: {name: string; state: string}) => [s.name, s.state]), [[name, 'running']])
    const ex = await kit(['exec', name!, '--', 'sh', '-c', 'command -v lint-all'])
    assert.equal(ex.code, 0, ex.stderr)
    assert.equal(ex.stdout.trim(), '/home/agent/.local/bin/lint-all')
    const stop = await kit(['stop', name!])
    assert.equal(stop.code, 0, stop.stderr)
    const rm = await kit(['rm', name!])
    assert.equal(rm.code, 0, rm.stderr)
    assert.deepEqual(sandboxes(), [])
  })

  it('kit run -d --rm: kit stop ends it and the sandbox is gone', async () => {
    const d = await kit(['run', '-d', '--rm', '--name', 'gone', agent, '--workspace', ws])
    assert.equal(d.code, 0, d.stderr)
    assert.deepEqual(sandboxes(), ['gone'])
    const stop = await kit(['stop', 'gone'])
    assert.equal(stop.code, 0, stop.stderr)
    for (let i = 0; i < 100 && sandboxes().length > 0; i++) await new Promise((r) => setTimeout(r, 100))
    assert.deepEqual(sandboxes(), [])
    assert.deepEqual((await kit(['ls', '--json'])).json.sandboxes, [])
  })
})
