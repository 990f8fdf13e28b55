// Agent images without a VM: layers applied with whiteouts and opaque directories, symlinks that
// try to leave the root, hard links, a rootfs tarball imported into the store and unpacked once
// per digest, and the store lookups (index → linux/amd64, a kit is not an image).
import assert from 'node:assert/strict'
import {existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {gzipSync} from 'node:zlib'
import tar from 'tar-stream'
import {describe as describeBlob, MediaType} from '../../registry-client/descriptor.js'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {importRootfsTarball} from '../../runtime/image/import.js'
import {listImages} from '../../runtime/image/list.js'
import {ensureImage} from '../../runtime/image/resolve.js'
import {findStoreImage} from '../../runtime/image/rootfs.js'
import {applyLayer, resolveInRoot} from '../../runtime/image/unpack.js'

type Entry = {name: string; type?: tar.Header['type']; body?: string; mode?: number; linkname?: string; uid?: number; gid?: number}

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack()
  const chunks: Buffer[] = []
  pack.on('data', (c: unknown) => {
    chunks.push(c as Buffer)
  })
  const done = new Promise<void>((r) => pack.on('end', () => r()))
  for (const e of entries) {
    const header = {name: e.name, type: e.type ?? 'file', mode: e.mode ?? (e.type === 'directory' ? 0o755 : 0o644), uid: e.uid ?? 0, gid: e.gid ?? 0, mtime: new Date(1_000_000_000_000), ...(e.linkname ? {linkname: e.linkname} : {})} as tar.Header
    if ((e.type ?? 'file') === 'file') pack.entry(header, e.body ?? '')
    else pack.entry(header)
  }
  pack.finalize()
  await done
  return Buffer.concat(chunks)
}

describe('runtime/image: layers, whiteouts, import', function () {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kit-rt-image-'))
  })
  afterEach(() => rmSync(dir, {recursive: true, force: true}))

  it('applies layers in order: files replaced, .wh. files delete, opaque directories drop lower content only', async () => {
    const root = join(dir, 'root')
    const {mkdirSync} = await import('node:fs')
    mkdirSync(root)
    await applyLayer(root, Readable.from(await tarOf([
      {name: 'etc/', type: 'directory'},
      {name: 'etc/keep', body: 'lower'},
      {name: 'etc/gone', body: 'x'},
      {name: 'opt/app/', type: 'directory'},
      {name: 'opt/app/old', body: 'old'},
      {name: 'opt/app/sub/', type: 'directory'},
      {name: 'opt/app/sub/deep', body: 'deep'},
      {name: 'usr/bin/tool', body: '#!/bin/sh\n', mode: 0o4755, uid: 1000, gid: 1000},
    ])))
    const stats = await applyLayer(root, Readable.from(gzipSync(await tarOf([
      {name: 'etc/keep', body: 'upper'},
      {name: 'etc/.wh.gone'},
      {name: 'opt/app/', type: 'directory'},
      {name: 'opt/app/.wh..wh..opq'},
      {name: 'opt/app/new', body: 'new'},
    ]))))
    assert.equal(stats.whiteouts, 2)
    assert.equal(readFileSync(join(root, 'etc/keep'), 'utf8'), 'upper')
    assert.equal(existsSync(join(root, 'etc/gone')), false)
    assert.equal(existsSync(join(root, 'etc/.wh.gone')), false)
    assert.equal(existsSync(join(root, 'opt/app/old')), false)
    assert.equal(existsSync(join(root, 'opt/app/sub')), false)
    assert.equal(readFileSync(join(root, 'opt/app/new'), 'utf8'), 'new')
    assert.equal(existsSync(join(root, 'opt/app/.wh..wh..opq')), false)
    const st = statSync(join(root, 'usr/bin/tool'))
    assert.equal(st.mode & 0o7777, 0o4755)
    if (process.getuid?.() === 0) assert.equal(st.uid, 1000)
  })

  it('keeps a write inside the root when a symlink in the tree points outside it', async () => {
    const root = join(dir, 'root')
    const outside = join(dir, 'outside')
    const {mkdirSync} = await import('node:fs')
    mkdirSync(root)
    mkdirSync(outside)
    await applyLayer(root, Readable.from(await tarOf([
      {name: 'escape', type: 'symlink', linkname: outside},
      {name: 'up', type: 'symlink', linkname: '../../../../..'},
    ])))
    await applyLayer(root, Readable.from(await tarOf([
      {name: 'escape/owned', body: 'x'},
      {name: 'up/tmp/owned2', body: 'y'},
      {name: '../../evil', body: 'z'},
    ])))
    assert.equal(existsSync(join(outside, 'owned')), false)
    assert.equal(readFileSync(join(root, outside, 'owned'), 'utf8'), 'x')
    assert.equal(readFileSync(join(root, 'tmp/owned2'), 'utf8'), 'y')
    assert.equal(readFileSync(join(root, 'evil'), 'utf8'), 'z')
    assert.equal(existsSync(join(dir, 'evil')), false)
    assert.equal(readlinkSync(join(root, 'escape')), outside)
    assert.equal(resolveInRoot(root, 'escape/x', true), join(root, outside, 'x'))
  })

  it('makes hard links and replaces a directory by a file (and back)', async () => {
    const root = join(dir, 'root')
    const {mkdirSync} = await import('node:fs')
    mkdirSync(root)
    await applyLayer(root, Readable.from(await tarOf([
      {name: 'a', body: 'same'},
      {name: 'b', type: 'link', linkname: 'a'},
      {name: 'd/', type: 'directory'},
      {name: 'd/x', body: '1'},
      {name: 'f', body: 'file'},
      {name: 'dev/null', type: 'character-device'},
    ])))
    assert.equal(statSync(join(root, 'a')).ino, statSync(join(root, 'b')).ino)
    assert.equal(existsSync(join(root, 'dev/null')), false)
    await applyLayer(root, Readable.from(await tarOf([
      {name: 'd', body: 'now a file'},
      {name: 'f/', type: 'directory'},
      {name: 'f/y', body: '2'},
    ])))
    assert.equal(readFileSync(join(root, 'd'), 'utf8'), 'now a file')
    assert.ok(lstatSync(join(root, 'f')).isDirectory())
  })

  it('imports a rootfs tarball as a one-layer image, unpacks it once per digest, lists it', async () => {
    const env = {...process.env, KIT_HOME: join(dir, 'home')}
    const store = await OciLayoutStore.open(join(dir, 'home', 'store'))
    const tarball = join(dir, 'rootfs.tar')
    writeFileSync(tarball, await tarOf([
      {name: './', type: 'directory'},
      {name: './bin/', type: 'directory'},
      {name: './bin/sh', body: '#!fake', mode: 0o755},
      {name: './etc/', type: 'directory'},
      {name: './etc/os-release', body: 'ID=test\n'},
    ]))
    const a = await importRootfsTarball(store, tarball, 'localhost/test-agent:1', {env})
    const b = await importRootfsTarball(store, tarball, 'localhost/test-agent:2', {env})
    assert.equal(a.manifest.digest, b.manifest.digest, 'import is reproducible')
    const first = await ensureImage(store, 'localhost/test-agent:1', {env, offline: true})
    assert.equal(first.rootfs.unpacked, true)
    assert.equal(readFileSync(join(first.rootfs.dir, 'etc/os-release'), 'utf8'), 'ID=test\n')
    assert.equal(statSync(join(first.rootfs.dir, 'bin/sh')).mode & 0o777, 0o755)
    assert.deepEqual(first.image.config.env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'])
    const second = await ensureImage(store, 'localhost/test-agent:2', {env, offline: true})
    assert.equal(second.rootfs.unpacked, false, 'the second start does not unpack again')
    assert.equal(second.rootfs.dir, first.rootfs.dir)
    const listed = await listImages(store, env)
    assert.deepEqual(listed.map((i) => [i.reference, i.unpacked]), [['localhost/test-agent:1', true], ['localhost/test-agent:2', true]])
    await assert.rejects(ensureImage(store, 'localhost/missing:1', {env}), (e: Error & {code?: string}) => e.code === 'IMAGE_NOT_FOUND' && /kit image import/.test(e.message))
    writeFileSync(join(dir, 'notroot.tar'), await tarOf([{name: 'README', body: 'x'}]))
    await assert.rejects(importRootfsTarball(store, join(dir, 'notroot.tar'), 'localhost/bad:1', {env}), /does not look like a root filesystem/)
  })

  it('picks linux/amd64 from an index and refuses a kit as an image', async () => {
    const store = await OciLayoutStore.open(join(dir, 'store'))
    const layer = gzipSync(await tarOf([{name: 'bin/', type: 'directory'}]))
    const layerDesc = describeBlob(MediaType.OciLayerTarGzip, layer)
    await store.push(layerDesc, layer)
    const config = Buffer.from(JSON.stringify({architecture: 'amd64', os: 'linux', config: {Env: ['A=1']}, rootfs: {type: 'layers', diff_ids: []}}))
    const configDesc = describeBlob(MediaType.OciConfig, config)
    await store.push(configDesc, config)
    const manifest = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDesc, layers: [layerDesc]}))
    const mDesc = describeBlob(MediaType.OciManifest, manifest)
    await store.push(mDesc, manifest)
    const index = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [
      {...mDesc, platform: {os: 'linux', architecture: 'arm64'}},
      {...mDesc, platform: {os: 'linux', architecture: 'amd64'}},
    ]}))
    const iDesc = describeBlob(MediaType.OciIndex, index)
    await store.push(iDesc, index)
    await store.tag(iDesc, 'example.com/multi:1')
    const img = await findStoreImage(store, 'example.com/multi:1')
    assert.equal(img?.manifest.digest, mDesc.digest)
    assert.deepEqual(img?.config.env, ['A=1'])
    const kitManifest = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MediaType.OciManifest, artifactType: 'application/vnd.docker.sandbox.kit.v2', config: configDesc, layers: [layerDesc]}))
    const kDesc = describeBlob(MediaType.OciManifest, kitManifest)
    await store.push(kDesc, kitManifest)
    await store.tag(kDesc, 'some-kit:1')
    await assert.rejects(findStoreImage(store, 'some-kit:1'), /is a kit, not an agent image/)
  })
})
