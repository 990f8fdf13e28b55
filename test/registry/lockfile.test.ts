import assert from 'node:assert/strict'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {integrityOf, lockKits, readKitsFile, sha256} from '../../registry-client/index.js'

describe('registry-client: lockfile', () => {
  let dir: string
  const digestOf = (s: string) => sha256(s)
  let resolved: Record<string, {version?: string; resolved: string; digest: string}>
  const resolve = async (ref: string) => {
    const r = resolved[ref]
    if (!r) throw new Error(`unknown ${ref}`)
    return r
  }
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kit-lock-'))
    resolved = {
      'r.example/team/a@^1.4': {version: '1.4.2', resolved: `r.example/team/a@${digestOf('a')}`, digest: digestOf('a')},
      'r.example/team/b:2.0.0': {version: '2.0.0', resolved: `r.example/team/b@${digestOf('b')}`, digest: digestOf('b')},
    }
  })
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('reads kits.yaml in its forms and reports bad entries with line:column', async () => {
    const file = join(dir, 'kits.yaml')
    await writeFile(file, 'kits:\n  - r.example/team/a@^1.4\n  - ref: r.example/team/b:2.0.0\n')
    assert.deepEqual(await readKitsFile(file), ['r.example/team/a@^1.4', 'r.example/team/b:2.0.0'])
    await writeFile(file, '- r.example/x:1\n')
    assert.deepEqual(await readKitsFile(file), ['r.example/x:1'])
    await writeFile(file, 'kits:\n  - r.example/x:1\n  - r.example/Upper:1\n')
    await assert.rejects(readKitsFile(file), {code: 'INVALID_KITS_FILE', message: new RegExp(`${file}:3:5: .*lower case`)})
    await writeFile(file, 'kitz:\n  - a\n')
    await assert.rejects(readKitsFile(file), {message: /:1:1: unknown key "kitz"/})
    await writeFile(file, 'kits:\n  - r.example/x:1\n  - r.example/x:1\n')
    await assert.rejects(readKitsFile(file), {message: /:3:5: duplicate reference/})
  })

  it('writes sorted entries, keeps locked ones, and fails when frozen and out of date', async () => {
    const file = join(dir, 'kits.yaml')
    await writeFile(file, 'kits:\n  - r.example/team/b:2.0.0\n  - r.example/team/a@^1.4\n')
    const first = await lockKits(file, {resolve})
    assert.equal(first.written, true)
    const text = await readFile(join(dir, 'kits.lock.json'), 'utf8')
    assert.equal(
      text,
      JSON.stringify(
        {
          kits: {
            'r.example/team/a@^1.4': {integrity: integrityOf(digestOf('a')), resolved: `r.example/team/a@${digestOf('a')}`, version: '1.4.2'},
            'r.example/team/b:2.0.0': {integrity: integrityOf(digestOf('b')), resolved: `r.example/team/b@${digestOf('b')}`, version: '2.0.0'},
          },
          lockfileVersion: 1,
        },
        null,
        2,
      ) + '\n',
    )
    // A newer version exists: plain lock keeps the locked one; --update moves it.
    resolved['r.example/team/a@^1.4'] = {version: '1.5.0', resolved: `r.example/team/a@${digestOf('a2')}`, digest: digestOf('a2')}
    assert.equal((await lockKits(file, {resolve})).written, false)
    assert.equal((await lockKits(file, {resolve, frozen: true})).changes.length, 0)
    await assert.rejects(lockKits(file, {resolve, frozen: true, update: true}), {code: 'LOCKFILE_OUT_OF_DATE', message: /r\.example\/team\/a@\^1\.4 \(changed\)/})
    await writeFile(file, 'kits:\n  - r.example/team/b:2.0.0\n  - r.example/team/c:1\n')
    await assert.rejects(lockKits(file, {resolve, frozen: true}), {message: /r\.example\/team\/a@\^1\.4 \(removed\), r\.example\/team\/c:1 \(added\)/})
    assert.equal(await readFile(join(dir, 'kits.lock.json'), 'utf8'), text, 'frozen never writes')
    const updated = await lockKits(join(dir, 'kits.yaml'), {resolve: async (r) => (r === 'r.example/team/c:1' ? {resolved: `r.example/team/c@${digestOf('c')}`, digest: digestOf('c')} : resolve(r))})
    assert.deepEqual(Object.keys(updated.lockfile.kits), ['r.example/team/b:2.0.0', 'r.example/team/c:1'])
    assert.equal(updated.lockfile.kits['r.example/team/c:1'].version, null)
  })

  it('refuses a hand-edited lockfile whose integrity does not match', async () => {
    const file = join(dir, 'kits.yaml')
    await writeFile(file, 'kits:\n  - r.example/team/b:2.0.0\n')
    await lockKits(file, {resolve})
    const path = join(dir, 'kits.lock.json')
    const lock = JSON.parse(await readFile(path, 'utf8'))
    lock.kits['r.example/team/b:2.0.0'].resolved = `r.example/team/b@${digestOf('evil')}`
    await writeFile(path, JSON.stringify(lock))
    await assert.rejects(lockKits(file, {resolve}), {code: 'INVALID_LOCKFILE', message: /integrity/})
  })
})
