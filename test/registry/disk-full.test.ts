// A full disk under the store: kit build and kit rm fail in one line naming the file they were
// writing, leave no temp file and no lock behind, and the next command works once there is room.
// Needs root (mounts a small tmpfs as KIT_HOME).
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {runKit} from '../support/cli.js'
import {cleanupKits, makeKit, mixin} from '../support/kit-dir.js'
import {checkStore} from '../support/store-check.js'

describe('a full disk under the store', function () {
  this.timeout(120_000)
  let root: string
  let home: string
  let env: NodeJS.ProcessEnv

  before(function () {
    if (process.getuid?.() !== 0) {
      console.log('      (skipped: needs root to mount a tmpfs)')
      this.skip()
    }
    root = mkdtempSync(join(tmpdir(), 'kit-diskfull-'))
    home = join(root, 'home')
    mkdirSync(home)
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', home]).status !== 0) {
      console.log('      (skipped: cannot mount tmpfs here)')
      this.skip()
    }
    env = {PATH: process.env.PATH, HOME: root, KIT_HOME: home, KIT_ORG_CONFIG: join(root, 'org.json'), CI: '1'}
  })
  after(() => {
    cleanupKits()
    if (home) spawnSync('umount', ['-l', home])
    if (root) rmSync(root, {recursive: true, force: true})
  })

  it('kit build of a layer larger than the free space: one line naming the blob, nothing left', async () => {
    const small = await runKit(['build', makeKit(mixin('', 'small')), '--tag', 'kept:1'], {env})
    assert.equal(small.code, 0, small.stderr)
    const big = makeKit(mixin('', 'big'), {'files/home/big.txt': randomBytes(2 * 1024 * 1024).toString('hex')})
    const r = await runKit(['build', big, '--tag', 'big:1'], {env})
    assert.equal(r.code, 1, r.stderr)
    const lines = r.stderr.trim().split('\n')
    assert.equal(lines.length, 1, r.stderr)
    assert.match(lines[0]!, new RegExp(`^kit: ${join(home, 'store', 'blobs', 'sha256')}/[0-9a-f]{64}: no space left on the device`))
    assert.deepEqual(await checkStore(join(home, 'store')), [])
    assert.equal(existsSync(join(home, 'store', 'index.json.lock')), false)
  })

  it('kit rm on a full disk: one line naming the lock, no lock left; the next kit rm works at once', async () => {
    const filler = join(home, 'filler')
    spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], {stdio: 'ignore'}) // until the disk is full
    const r = await runKit(['rm', 'kept:1'], {env})
    assert.equal(r.code, 1, r.stderr)
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    assert.match(r.stderr, /no space left on the device/)
    assert.ok(r.stderr.includes(join(home, 'store')), r.stderr)
    assert.equal(existsSync(join(home, 'store', 'index.json.lock')), false)
    rmSync(filler)
    const again = await runKit(['rm', 'kept:1'], {env})
    assert.equal(again.code, 0, again.stderr)
    assert.doesNotMatch(again.stderr, /waiting for/)
    assert.deepEqual(await checkStore(join(home, 'store')), [])
  })
})
