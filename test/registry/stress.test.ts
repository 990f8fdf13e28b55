// Stress: build, pull, push and rm on one store at once, for a bounded number of rounds, against
// a real registry (docker-registry, test/support/registry.ts). Content is shared on purpose (the
// same kit under several tags, a pulled copy of it), so gc keeps meeting blobs another command
// relies on. Afterwards every blob must hash to its digest and every tag must have all its blobs,
// in the store and on the registry (each pushed tag pulled back into a fresh store).
import assert from 'node:assert/strict'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {runKit, type KitResult} from '../support/cli.js'
import {cleanupKits, makeKit, mixin} from '../support/kit-dir.js'
import {startRegistry, type TestRegistry} from '../support/registry.js'
import {checkStore} from '../support/store-check.js'

const ROUNDS = 4

describe('stress: build, pull, push and rm in parallel on one store', function () {
  this.timeout(240_000)
  let registry: TestRegistry
  let dir: string
  let env: NodeJS.ProcessEnv

  before(async () => {
    registry = await startRegistry()
    dir = await mkdtemp(join(tmpdir(), 'kit-stress-'))
    env = {PATH: process.env.PATH, HOME: dir, KIT_HOME: join(dir, 'home'), KIT_ORG_CONFIG: join(dir, 'org.json'), DOCKER_CONFIG: join(dir, 'docker'), CI: '1'}
  })
  after(async () => {
    cleanupKits()
    await registry?.stop()
    await rm(dir, {recursive: true, force: true})
  })

  it(`keeps every tag whole over ${ROUNDS} rounds`, async () => {
    const shared = makeKit(mixin('description: shared\n', 'shared'), {'files/home/.a': 'shared content\n'})
    const other = makeKit(mixin('description: other\n', 'other'), {'files/home/.a': 'shared content\n', 'files/home/.b': 'its own\n'})
    const remote = `${registry.host}/stress/shared`
    const seed = await runKit(['push', shared, `${remote}:1`, '--plain-http'], {env})
    assert.equal(seed.code, 0, seed.stderr)
    const ok = (what: string, r: KitResult) => assert.equal(r.code, 0, `${what}: ${r.stderr}${r.stdout}`)
    const rmOk = (what: string, r: KitResult) => assert.ok(r.code === 0 || /no such reference|not in the store/.test(r.stderr), `${what}: ${r.stderr}`)
    const pushed: string[] = []
    for (let round = 1; round <= ROUNDS; round++) {
      const jobs: Array<Promise<void>> = [
        runKit(['build', shared, '--tag', `s:${round}`], {env}).then((r) => ok(`build s:${round}`, r)),
        runKit(['build', other, '--tag', `o:${round}`], {env}).then((r) => ok(`build o:${round}`, r)),
        runKit(['pull', `${remote}:1`, '--plain-http'], {env}).then((r) => ok('pull', r)),
        runKit(['push', round === 1 ? shared : `s:${round - 1}`, `${registry.host}/stress/pushed:${round}`, '--plain-http'], {env}).then((r) => {
          // s:(round-1) may be removed by this round's rm first: then there is nothing to push.
          if (r.code === 0) pushed.push(`${registry.host}/stress/pushed:${round}`)
          else assert.match(r.stderr, /no such reference|not in the store|not found/i, r.stderr)
        }),
      ]
      if (round > 1) {
        jobs.push(runKit(['rm', `s:${round - 1}`], {env}).then((r) => rmOk(`rm s:${round - 1}`, r)))
        jobs.push(runKit(['rm', `o:${round - 1}`], {env}).then((r) => rmOk(`rm o:${round - 1}`, r)))
        jobs.push(runKit(['rm', `${remote}:1`], {env}).then((r) => rmOk('rm pulled', r)))
      }
      await Promise.all(jobs)
      assert.deepEqual(await checkStore(join(env.KIT_HOME!, 'store')), [], `after round ${round}`)
    }
    const ls = await runKit(['ls', '--json'], {env})
    ok('ls', ls)
    const refs = ls.json.store.map((i: {reference: string}) => i.reference)
    for (const ref of [`s:${ROUNDS}`, `o:${ROUNDS}`]) assert.ok(refs.includes(ref), `${ref} not in ${refs.join(', ')}`)
    for (const ref of refs) ok(`inspect ${ref}`, await runKit(['inspect', ref, '--json'], {env}))
    // What reached the registry is whole too: pull each pushed tag into a fresh store.
    const fresh = {...env, KIT_HOME: join(dir, 'fresh')}
    for (const ref of pushed) ok(`pull back ${ref}`, await runKit(['pull', ref, '--plain-http'], {env: fresh}))
    if (pushed.length > 0) assert.deepEqual(await checkStore(join(fresh.KIT_HOME, 'store')), [])
  })
})
