// Root filesystems without a VM: importing a `docker export`-style tarball, and the ext4 image
// cache (same tree, same image; a changed tree, a new one).
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {VmError} from '../../runtime/vm/errors.js'
import {importRootfsTar, rootfsImage, treeKey} from '../../runtime/vm/rootfs.js'

describe('vm: root filesystems', () => {
  let dir: string
  let src: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kit-vm-rootfs-'))
    src = join(dir, 'src')
    mkdirSync(join(src, 'bin'), {recursive: true})
    mkdirSync(join(src, 'home/agent'), {recursive: true})
    writeFileSync(join(src, 'bin/tool'), '#!/bin/sh\necho tool\n')
    chmodSync(join(src, 'bin/tool'), 0o4755)
    symlinkSync('tool', join(src, 'bin/alias'))
    writeFileSync(join(src, 'home/agent/.profile'), 'x\n')
    if (process.getuid?.() === 0) chownSync(join(src, 'home/agent/.profile'), 1000, 1000)
    execFileSync('tar', ['--numeric-owner', '-cf', join(dir, 'rootfs.tar'), '-C', src, '.'])
  })
  after(() => rmSync(dir, {recursive: true, force: true}))

  it('imports a rootfs tarball keeping modes, links and (as root) numeric owners', async () => {
    const dest = await importRootfsTar(join(dir, 'rootfs.tar'), join(dir, 'images', 'one'))
    assert.equal(statSync(join(dest, 'bin/tool')).mode & 0o7777, 0o4755)
    assert.equal(readlinkSync(join(dest, 'bin/alias')), 'tool')
    if (process.getuid?.() === 0) assert.equal(lstatSync(join(dest, 'home/agent/.profile')).uid, 1000)
  })

  it('refuses an existing destination and a tarball that is not a root filesystem', async () => {
    await assert.rejects(importRootfsTar(join(dir, 'rootfs.tar'), join(dir, 'images', 'one')), /already exists/)
    const notRoot = join(dir, 'notroot')
    mkdirSync(join(notRoot, 'docs'), {recursive: true})
    execFileSync('tar', ['-cf', join(dir, 'docs.tar'), '-C', notRoot, '.'])
    await assert.rejects(importRootfsTar(join(dir, 'docs.tar'), join(dir, 'images', 'two')), (e: unknown) => e instanceof VmError && e.code === 'ROOTFS' && /does not look like a root filesystem/.test(e.message))
    assert.throws(() => statSync(join(dir, 'images', 'two')), /ENOENT/, 'nothing half-made is left')
  })

  it('caches ext4 images by tree identity (or by a given id) and rebuilds when the tree changes', async () => {
    const cacheRoot = join(dir, 'ext4')
    const a = await rootfsImage(src, {cacheRoot})
    assert.equal(await rootfsImage(src, {cacheRoot}), a)
    const fsck = execFileSync('e2fsck', ['-fn', a], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']})
    assert.match(fsck, /clean|files/)
    const k1 = (await treeKey(src)).key
    writeFileSync(join(src, 'bin/new'), 'n\n')
    assert.notEqual((await treeKey(src)).key, k1)
    const b = await rootfsImage(src, {cacheRoot})
    assert.notEqual(b, a)
    const byId = await rootfsImage(src, {cacheRoot, id: 'sha256:abc'})
    writeFileSync(join(src, 'bin/newer'), 'n\n')
    assert.equal(await rootfsImage(src, {cacheRoot, id: 'sha256:abc'}), byId, 'an id is trusted without walking the tree')
    await assert.rejects(rootfsImage(join(dir, 'missing'), {cacheRoot}), /does not exist/)
  })
})
