// Overlapping commands on one store, each race made deterministic: a process is held at its
// critical step (KIT_TEST_PAUSE=STEP:FILE, registry-client/lock.ts) while the other command runs,
// then released. And locks left by dead processes.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile} from 'node:fs/promises'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'
import {runKit} from '../support/cli.js'
import {makeKit, mixin} from '../support/kit-dir.js'
import {startRegistry, type TestRegistry} from '../support/registry.js'
import {checkStore} from '../support/store-check.js'

async function waitFor(path: string): Promise<void> {
  for (let i = 0; i < 3000 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 20))
  assert.ok(existsSync(path), `${path} never appeared`)
}

describe('reliability: overlapping commands and dead lock holders', function () {
  this.timeout(120_000)
  let dir: string
  let env: NodeJS.ProcessEnv
  let kitDir: string
  const store = () => join(env.KIT_HOME!, 'store')

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kit-races-'))
    env = {PATH: process.env.PATH, HOME: dir, KIT_HOME: join(dir, 'home'), KIT_ORG_CONFIG: join(dir, 'org.json'), DOCKER_CONFIG: join(dir, 'docker'), CI: '1'}
    kitDir = makeKit(mixin('description: shared content\n'), {'files/home/.shared': 'same bytes in both builds\n'})
  })
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('kit rm of a tag while a build of the same content waits to tag: the new tag keeps its blobs', async () => {
    const first = await runKit(['build', kitDir, '--tag', 'c1:1', '--json'], {env})
    assert.equal(first.code, 0, first.stderr)
    const gate = join(dir, 'release')
    // The second build finds every blob present, then is held before it tags c1:2.
    const building = runKit(['build', kitDir, '--tag', 'c1:2', '--json'], {env: {...env, KIT_TEST_PAUSE: `tag:${gate}`}, timeoutMs: 90_000})
    await waitFor(gate + '.waiting')
    const removed = await runKit(['rm', 'c1:1', '--json'], {env})
    assert.equal(removed.code, 0, removed.stderr)
    assert.ok(removed.json.blobsRemoved >= 3, JSON.stringify(removed.json)) // c1:1's blobs went: nothing else referenced them
    await writeFile(gate, '')
    const second = await building
    assert.equal(second.code, 0, second.stderr)
    assert.equal(second.json.digest, first.json.digest)
    const inspected = await runKit(['inspect', 'c1:2', '--json'], {env})
    assert.equal(inspected.code, 0, inspected.stderr)
    assert.deepEqual(await checkStore(store()), [])
    const ls = await runKit(['ls', '--json'], {env})
    assert.equal(ls.code, 0, ls.stderr)
    assert.deepEqual(ls.json.store.map((i: {reference: string}) => i.reference), ['c1:2'])
  })

  describe('with a registry', () => {
    let registry: TestRegistry
    before(async () => {
      registry = await startRegistry()
    })
    after(async () => {
      await registry?.stop()
    })

    it('kit rm while a pull of the same content waits to tag: the pulled tag keeps its blobs, and pulling again repairs a dangling tag', async () => {
      const repo = `${registry.host}/race/c${Date.now()}`
      const publisher = {...env, KIT_HOME: join(dir, 'publisher')} // its local build stays out of the store under test
      const pushed = await runKit(['push', kitDir, `${repo}:1`, '--plain-http', '--json'], {env: publisher})
      assert.equal(pushed.code, 0, pushed.stderr)
      const again = await runKit(['push', kitDir, `${repo}:2`, '--plain-http', '--json'], {env: publisher})
      assert.equal(again.code, 0, again.stderr)
      const p1 = await runKit(['pull', `${repo}:1`, '--plain-http', '--json'], {env})
      assert.equal(p1.code, 0, p1.stderr)
      const gate = join(dir, 'release-pull')
      const pulling = runKit(['pull', `${repo}:2`, '--plain-http', '--json'], {env: {...env, KIT_TEST_PAUSE: `tag:${gate}`}, timeoutMs: 90_000})
      await waitFor(gate + '.waiting')
      const removed = await runKit(['rm', `${repo}:1`, '--json'], {env})
      assert.equal(removed.code, 0, removed.stderr)
      await writeFile(gate, '')
      const p2 = await pulling
      assert.equal(p2.code, 0, p2.stderr)
      const inspected = await runKit(['inspect', `${repo}:2`, '--json'], {env})
      assert.equal(inspected.code, 0, inspected.stderr)
      assert.deepEqual(await checkStore(store()), [])
      // A tag left dangling by an older kit (its layer deleted under it): pulling again fetches it.
      const manifest = JSON.parse(await readFile(join(store(), 'blobs', 'sha256', p2.json.digest.slice(7)), 'utf8'))
      await rm(join(store(), 'blobs', 'sha256', manifest.layers[0].digest.slice(7)))
      const p3 = await runKit(['pull', `${repo}:2`, '--plain-http', '--json'], {env})
      assert.equal(p3.code, 0, p3.stderr)
      assert.deepEqual(await checkStore(store()), [])
    })
  })

  it('a lock left by a process killed with -9 is taken over at once (not after its age says so)', async () => {
    const built = await runKit(['build', kitDir, '--tag', 'l:1'], {env})
    assert.equal(built.code, 0, built.stderr)
    const lock = join(store(), 'index.json.lock')
    // A holder that takes the lock the way kit does, then is killed.
    const script = `
      import {withLock} from ${JSON.stringify(new URL('../../registry-client/lock.js', import.meta.url).href)}
      await withLock(process.argv[1], async () => { process.stdout.write('held\\n'); await new Promise(() => {}) })
    `
    const holder = spawn(process.execPath, ['--input-type=module', '-e', script, lock], {stdio: ['ignore', 'pipe', 'inherit']})
    const held = await new Promise<boolean>((resolve) => {
      holder.stdout.once('data', () => resolve(true))
      holder.once('exit', () => resolve(false))
    })
    assert.ok(held, 'the holder never took the lock')
    const content = JSON.parse(await readFile(lock, 'utf8'))
    assert.equal(content.pid, holder.pid)
    assert.match(content.start, /^\d+$/)
    holder.kill('SIGKILL')
    await new Promise((r) => holder.once('exit', r))
    // However fresh the file looks, its holder is dead.
    const future = new Date(Date.now() + 3600_000)
    await utimes(lock, future, future)
    const next = await runKit(['build', kitDir, '--tag', 'l:2', '--json'], {env, timeoutMs: 90_000})
    assert.equal(next.code, 0, next.stderr)
    assert.doesNotMatch(next.stderr, /waiting for/)
    assert.equal(existsSync(lock), false)
    assert.deepEqual(await checkStore(store()), [])
  })

  it('a lock whose pid now belongs to another process (pid reuse) counts as dead; an empty lock file (crash mid-create) too', async () => {
    const built = await runKit(['build', kitDir, '--tag', 'l:1'], {env})
    assert.equal(built.code, 0, built.stderr)
    const lock = join(store(), 'index.json.lock')
    const future = new Date(Date.now() + 3600_000)
    // pid 1 is alive, but it did not start at tick 1.
    await writeFile(lock, JSON.stringify({pid: 1, start: '1', host: hostname(), cmd: 'kit rm x'}))
    await utimes(lock, future, future)
    const a = await runKit(['build', kitDir, '--tag', 'l:2'], {env, timeoutMs: 90_000})
    assert.equal(a.code, 0, a.stderr)
    await writeFile(lock, '')
    const old = new Date(Date.now() - 5000)
    await utimes(lock, old, old)
    const b = await runKit(['build', kitDir, '--tag', 'l:3'], {env, timeoutMs: 90_000})
    assert.equal(b.code, 0, b.stderr)
    assert.equal(existsSync(lock), false)
  })

  it('temp files of a killed pull and the work directory of a killed build are cleaned by the next command', async () => {
    const built = await runKit(['build', kitDir, '--tag', 't:1'], {env})
    assert.equal(built.code, 0, built.stderr)
    const dead = spawn(process.execPath, ['-e', ''])
    await new Promise((r) => dead.once('exit', r))
    const partial = join(store(), 'blobs', 'sha256', `.tmp-${dead.pid}-0123456789ab`)
    await writeFile(partial, 'half a blob')
    const workDir = join(tmpdir(), `kit-build-${dead.pid}-AbCdEf`)
    await mkdir(workDir, {recursive: true})
    await writeFile(join(workDir, 'layer.tar.gz'), 'half a layer')
    const again = await runKit(['build', kitDir, '--tag', 't:2'], {env})
    assert.equal(again.code, 0, again.stderr)
    assert.equal(existsSync(partial), false)
    assert.equal(existsSync(workDir), false)
    assert.deepEqual(await checkStore(store()), [])
  })

  it('a live holder is named (pid and command) while another kit waits for it', async () => {
    const built = await runKit(['build', kitDir, '--tag', 'w:1'], {env})
    assert.equal(built.code, 0, built.stderr)
    const lock = join(store(), 'index.json.lock')
    const gate = join(dir, 'release-lock')
    const script = `
      import {existsSync} from 'node:fs'
      import {withLock} from ${JSON.stringify(new URL('../../registry-client/lock.js', import.meta.url).href)}
      await withLock(process.argv[1], async () => {
        process.stdout.write('held\\n')
        while (!existsSync(process.argv[2])) await new Promise((r) => setTimeout(r, 20))
      })
    `
    const holder = spawn(process.execPath, ['--input-type=module', '-e', script, lock, gate], {stdio: ['ignore', 'pipe', 'inherit']})
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()))
    let stderr = ''
    const child = spawn(process.execPath, [join(process.cwd(), 'bin', 'kit'), 'build', kitDir, '--tag', 'w:2'], {env, stdio: ['ignore', 'ignore', 'pipe']})
    const said = new Promise<void>((resolve) =>
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString()
        if (/waiting for/.test(stderr)) resolve()
      }),
    )
    await said
    assert.match(stderr, new RegExp(`waiting for .*index\\.json\\.lock: held by pid ${holder.pid} \\(`))
    await writeFile(gate, '')
    const code = await new Promise((r) => child.once('exit', r))
    assert.equal(code, 0, stderr)
    await new Promise((r) => (holder.exitCode !== null ? r(null) : holder.once('exit', r)))
    assert.ok((await stat(join(store(), 'index.json'))).size > 0)
  })
})
