// A full disk: `kit image import` into a KIT_HOME on a tiny file system, and `kit run` whose temp
// directory (the VM's run directory) is full. Each fails with one line that says so, and leaves no
// VM, no proxy and no half-written image behind. Needs root (it mounts small tmpfs file systems).
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {importSampleImage, SAMPLE_CACHE, sampleAgentSkipReason} from '../support/upstreams.js'
import {runKit} from '../support/cli.js'
import {sampleKitsDir} from '../support/paths.js'
import {processesMentioning, vmTestAssets, type VmTestAssets} from '../vm/support.js'


function mountTmpfs(dir: string, size: string): boolean {
  mkdirSync(dir, {recursive: true})
  return spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]).status === 0
}

/** The error lines (notices such as the secret store's are not errors). */
function errorLines(stderr: string): string[] {
  // Not the first run's progress lines (kit: unpacking image ..., kit: building root image ...).
  return stderr.split('\n').filter((l) => l.startsWith('kit: ') && !l.startsWith('kit: warning') && !/secrets are kept in/.test(l) && !/^kit: (fetching kernel|unpacking image|building root image) /.test(l))
}

describe('a full disk: one clear line, nothing left behind', function () {
  this.timeout(600_000)
  let root: string
  const mounts: string[] = []
  let assets: VmTestAssets
  let env: NodeJS.ProcessEnv
  let tarball: string

  before(async function () {
    const skip = process.getuid?.() !== 0 ? 'needs root (mounts tmpfs)' : sampleAgentSkipReason()
    if (skip) {
      console.log(`      (skipped: ${skip})`)
      this.skip()
    }
    root = mkdtempSync(join(tmpdir(), 'kit-disk-'))
    const probe = join(root, 'probe')
    if (!mountTmpfs(probe, '1m')) {
      console.log('      (skipped: cannot mount tmpfs here)')
      this.skip()
    }
    mounts.push(probe)
    assets = await vmTestAssets()
    env = {...assets.env, KIT_SECRET_STORE: 'file', DBUS_SESSION_BUS_ADDRESS: ''}
    importSampleImage(env)
    tarball = readdirSync(SAMPLE_CACHE).filter((f) => f.endsWith('.tar')).map((f) => join(SAMPLE_CACHE, f))[0]!
  })

  after(() => {
    for (const m of mounts.reverse()) spawnSync('umount', ['-l', m])
    if (root) rmSync(root, {recursive: true, force: true})
  })

  it('kit image import into a full KIT_HOME', async () => {
    const home = join(root, 'small-home')
    assert.ok(mountTmpfs(home, '2m'))
    mounts.push(home)
    const r = await runKit(['image', 'import', tarball, '--tag', 'localhost/full:1'], {env: {...env, KIT_HOME: home}, timeoutMs: 300_000})
    assert.equal(r.code, 1)
    const lines = errorLines(r.stderr)
    assert.equal(lines.length, 1, r.stderr)
    assert.match(lines[0]!, /^kit: no space left on device while importing .*\.tar, writing .*: free some space/)
    // Nothing half-written: the store is as empty as before (its index and layout file only).
    const files: string[] = []
    const walk = (d: string) => {
      for (const e of readdirSync(d, {withFileTypes: true})) (e.isDirectory() ? walk(join(d, e.name)) : files.push(join(d, e.name)))
    }
    walk(home)
    const big = files.filter((f) => statSync(f).size > 4096)
    assert.deepEqual(big, [])
  })

  it('kit run with a full temp directory: no VM, no proxy left, no sandbox left (a new sandbox that never started is not kept)', async () => {
    const full = join(root, 'full-tmp')
    assert.ok(mountTmpfs(full, '512k'))
    mounts.push(full)
    writeFileSync(join(full, 'filler'), Buffer.alloc(500 * 1024))
    const ws = join(root, 'ws')
    mkdirSync(ws)
    const r = await runKit(['run', join(sampleKitsDir, 'shell-agent'), '--workspace', ws, '--name', 'full', '--', 'true'], {env: {...env, TMPDIR: full}, timeoutMs: 300_000})
    assert.equal(r.code, 1, r.stderr)
    const lines = errorLines(r.stderr)
    assert.equal(lines.length, 1, r.stderr)
    assert.match(lines[0]!, /^kit: no space left on device while starting sandbox full, writing .*: free some space/)
    assert.deepEqual(processesMentioning(ws), [])
    assert.equal(existsSync(join(assets.kitHome, 'sandboxes', 'full')), false)
  })
})
