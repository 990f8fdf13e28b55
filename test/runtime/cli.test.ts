// `kit run` refusing bad input before anything starts: one line on stderr, exit 1, no sandbox
// left running; `kit image import/ls`, `kit ls`/`kit rm` of sandboxes. No VM here.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {kitBin, repoRoot, sampleKitsDir} from '../support/paths.js'
import {cleanupKits, makeKit} from '../support/kit-dir.js'
import {errorLine, runKit, writeTinyRootfs} from '../support/cli.js'

const kit = (args: string[], env: NodeJS.ProcessEnv) => runKit(args, {env})

describe('kit run / image / ls / rm: the CLI without a VM', function () {
  this.timeout(120_000)
  let home: string
  let env: NodeJS.ProcessEnv
  let ws: string
  before(() => {
    home = mkdtempSync(join(tmpdir(), 'kit-rt-cli-'))
    env = {...process.env, KIT_HOME: home}
    ws = join(home, 'ws')
    mkdirSync(ws)
  })
  after(() => {
    cleanupKits()
    rmSync(home, {recursive: true, force: true})
  })

  it('takes --json before the command (the error is then a JSON object)', async () => {
    const r = await kit(['run', join(sampleKitsDir, 'shell-agent'), '--workspace', '/', '--json', '--', 'true'], env)
    assert.equal(r.code, 1)
    assert.equal(r.json?.error?.code, 'WORKSPACE', r.stdout + r.stderr)
  })

  it('refuses / and the home directory as the workspace', async () => {
    for (const bad of ['/', process.env.HOME ?? '/root']) {
      const r = await kit(['run', join(sampleKitsDir, 'shell-agent'), '--workspace', bad, '--', 'true'], env)
      assert.equal(r.code, 1)
      assert.match(errorLine(r.stderr), /^kit: refusing .* as the workspace/)
    }
  })

  it('refuses two agents, an unmet requires, and a missing image, each in one line, leaving no sandbox running', async () => {
    const two = await kit(['run', join(sampleKitsDir, 'shell-agent'), '--kit', join(sampleKitsDir, 'shell-agent'), '--workspace', ws, '--', 'true'], env)
    assert.equal(two.code, 1)
    assert.match(errorLine(two.stderr), /two sandbox \(agent\) kits|appears twice/)
    const needy = makeKit('schemaVersion: "2"\nkind: mixin\nname: needy\nrequires:\n  agent: claude\n')
    const req = await kit(['run', join(sampleKitsDir, 'shell-agent'), '--kit', needy, '--workspace', ws, '--', 'true'], env)
    assert.equal(req.code, 1)
    assert.match(errorLine(req.stderr), /requires agent claude/)
    const img = await kit(['run', join(sampleKitsDir, 'shell-agent'), '--workspace', ws, '--name', 'noimage', '--', 'true'], env)
    assert.equal(img.code, 1)
    assert.match(errorLine(img.stderr), /agent image localhost\/kit-shell-agent:bookworm is not in the local store.*build-sample-image/)
    assert.equal(existsSync(join(home, 'sandboxes', 'noimage')), false, 'nothing recorded for a sandbox that never started')
    const ls = JSON.parse((await kit(['ls', '--json'], env)).stdout)
    assert.deepEqual(ls.sandboxes, [])
  })

  it('imports a rootfs tarball and lists it; kit ls shows sandboxes and kit rm removes one', async () => {
    await writeTinyRootfs(join(home, 'rootfs.tar'))
    const imp = await kit(['image', 'import', join(home, 'rootfs.tar'), '--tag', 'localhost/tiny:1', '--json'], env)
    assert.equal(imp.code, 0, imp.stderr)
    assert.match(JSON.parse(imp.stdout).digest, /^sha256:[0-9a-f]{64}$/)
    const ls = JSON.parse((await kit(['image', 'ls', '--json'], env)).stdout)
    assert.deepEqual(ls.images.map((i: {reference: string; unpacked: boolean}) => [i.reference, i.unpacked]), [['localhost/tiny:1', false]])

    mkdirSync(join(home, 'sandboxes', 'demo'), {recursive: true})
    writeFileSync(join(home, 'sandboxes', 'demo', 'sandbox.json'), JSON.stringify({
      version: 1, name: 'demo', created: new Date().toISOString(), agent: 'shell-agent',
      kits: [{input: 'x', source: 'store', dir: '/nonexistent', name: 'shell-agent', kind: 'sandbox', digest: `sha256:${'a'.repeat(64)}`}],
      args: {}, image: {reference: 'localhost/tiny:1'}, config: {workspace: ws, driver: 'qemu'},
    }))
    const listed = JSON.parse((await kit(['ls', '--json'], env)).stdout)
    assert.deepEqual(listed.sandboxes.map((s: {name: string; state: string}) => [s.name, s.state]), [['demo', 'created']])
    assert.ok(Array.isArray(listed.store))
    const human = await kit(['ls'], env)
    assert.match(human.stdout, /SANDBOX\s+AGENT\s+KITS\s+STATE\s+DRIVER\s+UPTIME\ndemo\s+shell-agent\s+shell-agent@aaaaaaaaaaaa\s+created\s+qemu/)
    const rm = await kit(['rm', 'demo', '--json'], env)
    assert.equal(rm.code, 0, rm.stderr)
    assert.deepEqual(JSON.parse(rm.stdout), {sandbox: {name: 'demo', stopped: false}})
    assert.equal(existsSync(join(home, 'sandboxes', 'demo')), false)
    const gone = await kit(['stop', 'demo'], env)
    assert.equal(gone.code, 1)
    assert.match(errorLine(gone.stderr), /no sandbox named demo/)
  })
})
