// Bad sandbox state on disk (a sandbox.json of {}, a truncated one, a corrupt state.json) and a
// store index.json of null: kit ls names each bad file and lists the rest, kit rm --sandbox
// removes a broken sandbox, nothing ends in a TypeError.
import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {runKit} from '../support/cli.js'
import {cleanupKits, makeKit, mixin} from '../support/kit-dir.js'

describe('kit ls / kit rm with bad sandbox state', function () {
  this.timeout(60_000)
  let dir: string
  let env: NodeJS.ProcessEnv
  let sandboxes: string

  const good = (name: string) => ({
    version: 1,
    name,
    created: '2026-01-01T00:00:00Z',
    agent: 'agent:1',
    kits: [{name: 'agent', kind: 'sandbox', source: 'store', reference: 'agent:1'}],
    args: {},
    image: {reference: 'example/agent:1'},
    config: {workspace: join(dir, 'ws'), driver: 'qemu'},
  })

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kit-state-'))
    env = {PATH: process.env.PATH, HOME: dir, KIT_HOME: join(dir, 'home'), KIT_ORG_CONFIG: join(dir, 'org.json'), CI: '1'}
    sandboxes = join(dir, 'home', 'sandboxes')
    const built = await runKit(['build', makeKit(mixin()), '--tag', 'kept:1'], {env})
    assert.equal(built.code, 0, built.stderr)
    const write = async (name: string, file: string, text: string) => {
      await mkdir(join(sandboxes, name), {recursive: true})
      await writeFile(join(sandboxes, name, file), text)
    }
    await write('fine', 'sandbox.json', JSON.stringify(good('fine')))
    await write('fine', 'state.json', JSON.stringify({state: 'exited', exitCode: 0}))
    await write('empty', 'sandbox.json', '{}')
    await write('cut', 'sandbox.json', JSON.stringify(good('cut')).slice(0, 40))
    await write('badstate', 'sandbox.json', JSON.stringify(good('badstate')))
    await write('badstate', 'state.json', '{"state": "runn')
  })
  after(async () => {
    cleanupKits()
    await rm(dir, {recursive: true, force: true})
  })

  it('kit ls --json lists the store and the readable sandboxes, with a warning naming each bad file', async () => {
    const r = await runKit(['ls', '--json'], {env})
    assert.equal(r.code, 0, r.stderr + r.stdout)
    assert.doesNotMatch(r.stderr + r.stdout, /TypeError|Cannot read/)
    assert.deepEqual(r.json.store.map((i: {reference: string}) => i.reference), ['kept:1'])
    assert.deepEqual(r.json.sandboxes.map((s: {name: string; state: string}) => [s.name, s.state]), [['badstate', 'unknown'], ['fine', 'exited']])
    const paths = r.json.warnings.map((w: {path: string}) => w.path).sort()
    assert.deepEqual(paths, [join(sandboxes, 'badstate', 'state.json'), join(sandboxes, 'cut', 'sandbox.json'), join(sandboxes, 'empty', 'sandbox.json')])
    for (const w of r.json.warnings) assert.ok(w.message.length > 0 && !w.message.includes('\n'))
  })

  it('kit ls (human) prints the lists and one warning line per bad file on stderr', async () => {
    const r = await runKit(['ls'], {env})
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /kept:1/)
    assert.match(r.stdout, /fine/)
    const lines = r.stderr.trim().split('\n')
    assert.equal(lines.length, 3, r.stderr)
    for (const name of ['empty', 'cut', 'badstate']) assert.ok(lines.some((l) => l.startsWith('kit: warning: ') && l.includes(join(sandboxes, name))), r.stderr)
  })

  it('kit rm --sandbox removes each broken sandbox', async () => {
    for (const name of ['empty', 'cut', 'badstate']) {
      const r = await runKit(['rm', '--sandbox', name, '--json'], {env})
      assert.equal(r.code, 0, r.stderr + r.stdout)
      assert.equal(existsSync(join(sandboxes, name)), false)
    }
    const r = await runKit(['ls', '--json'], {env})
    assert.equal(r.json.warnings, undefined)
    assert.deepEqual(r.json.sandboxes.map((s: {name: string}) => s.name), ['fine'])
  })

  it('an index.json of null: kit ls warns and still lists the sandboxes, kit inspect fails in one line naming it', async () => {
    const index = join(dir, 'home', 'store', 'index.json')
    await writeFile(index, 'null\n')
    const ls = await runKit(['ls', '--json'], {env})
    assert.equal(ls.code, 0, ls.stderr + ls.stdout)
    assert.deepEqual(ls.json.sandboxes.map((s: {name: string}) => s.name), ['fine'])
    assert.ok(ls.json.warnings.some((w: {message: string}) => w.message.includes(index)), JSON.stringify(ls.json.warnings))
    const inspect = await runKit(['inspect', 'kept:1'], {env})
    assert.equal(inspect.code, 1)
    assert.equal(inspect.stderr.trim().split('\n').length, 1, inspect.stderr)
    assert.match(inspect.stderr, new RegExp(`^kit: ${index.replace(/[.]/g, '\\.')}: not an OCI index`))
    assert.doesNotMatch(inspect.stderr, /TypeError/)
  })
})
