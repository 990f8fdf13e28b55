import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {promisify} from 'node:util'
import {pushArtifact} from './helpers.js'
import {
  copy,
  describe as describeBytes,
  type Descriptor,
  MediaType,
  MemoryStore,
  OciLayoutStore,
  readAll,
  REF_NAME_ANNOTATION,
} from '../../registry-client/index.js'

const run = promisify(execFile)

describe('registry-client: OciLayoutStore', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kit-layout-'))
  })
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('creates an OCI layout and round-trips a tagged artifact', async () => {
    const store = await OciLayoutStore.open(join(dir, 'store'))
    const a = await pushArtifact(store, 'a')
    await store.tag(a.manifest, 'my-mixin:1.2.3')
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'store', 'oci-layout'), 'utf8')), {imageLayoutVersion: '1.0.0'})
    const index = JSON.parse(await readFile(join(dir, 'store', 'index.json'), 'utf8'))
    assert.equal(index.manifests[0].annotations[REF_NAME_ANNOTATION], 'my-mixin:1.2.3')
    const resolved = await store.resolve('my-mixin:1.2.3')
    assert.equal(resolved.digest, a.manifest.digest)
    assert.deepEqual(await readAll(await store.fetch(resolved), resolved), a.bytes)
    assert.equal((await store.resolve(a.manifest.digest)).mediaType, MediaType.OciManifest)
    assert.equal((await store.resolve('my-mixin@' + a.manifest.digest)).digest, a.manifest.digest)
    assert.deepEqual(await store.list(), [{reference: 'my-mixin:1.2.3', descriptor: a.manifest}])
  })

  it('keeps index.json sorted whatever the order of tagging', async () => {
    const store = await OciLayoutStore.open(dir)
    const a = await pushArtifact(store, 'a')
    for (const ref of ['zeta:1', 'alpha:2', 'registry.example.com/team/gh:2.1.0', 'alpha:10']) await store.tag(a.manifest, ref)
    assert.deepEqual(await store.tags(), ['alpha:10', 'alpha:2', 'registry.example.com/team/gh:2.1.0', 'zeta:1'])
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'))
    assert.deepEqual(
      index.manifests.map((d: Descriptor) => d.annotations?.[REF_NAME_ANNOTATION]),
      ['alpha:10', 'alpha:2', 'registry.example.com/team/gh:2.1.0', 'zeta:1'],
    )
  })

  it('refuses content that does not match its descriptor and leaves no file behind', async () => {
    const store = await OciLayoutStore.open(dir)
    const good = describeBytes(MediaType.OciLayerTar, Buffer.from('hello'))
    await assert.rejects(store.push(good, Buffer.from('hellO')), {code: 'DIGEST_MISMATCH'})
    await assert.rejects(store.push(good, Readable.from([Buffer.from('hell')])), {code: 'SIZE_MISMATCH'})
    await assert.rejects(store.push(good, Readable.from([Buffer.from('hello!')])), {code: 'SIZE_MISMATCH'})
    await assert.rejects(store.push(good, Readable.from([Buffer.from('jello')])), {code: 'DIGEST_MISMATCH'})
    assert.deepEqual(await readdir(join(dir, 'blobs', 'sha256')), [])
    await store.push(good, Readable.from([Buffer.from('hel'), Buffer.from('lo')]))
    assert.deepEqual(await readdir(join(dir, 'blobs', 'sha256')), [good.digest.slice(7)])
  })

  it('verifies on fetch: a blob corrupted on disk fails the read', async () => {
    const store = await OciLayoutStore.open(dir)
    const d = describeBytes(MediaType.OciLayerTar, Buffer.from('hello'))
    await store.push(d, Buffer.from('hello'))
    await writeFile(store.blobPath(d.digest), 'jello')
    await assert.rejects(readAll(await store.fetch(d), d), {code: 'DIGEST_MISMATCH'})
  })

  it('untags, lists referrers and garbage-collects what nothing reaches', async () => {
    const store = await OciLayoutStore.open(dir)
    const a = await pushArtifact(store, 'a')
    const b = await pushArtifact(store, 'b')
    await store.tag(a.manifest, 'a:1')
    await store.tag(b.manifest, 'b:1')
    const sig = await pushArtifact(store, 'sig-of-a', {subject: a.manifest, artifactType: 'application/vnd.test.sig'})
    const refs = await store.referrers(a.manifest)
    assert.deepEqual(refs.map((r) => [r.digest, r.artifactType]), [[sig.manifest.digest, 'application/vnd.test.sig']])
    assert.deepEqual(await store.referrers(a.manifest, 'application/other'), [])
    assert.deepEqual(await store.tags(), ['a:1', 'b:1'])

    const kept = await store.gc()
    assert.deepEqual(kept.removed, [])

    await store.untag('b:1')
    const gone = await store.gc()
    assert.deepEqual(gone.removed, [b.manifest.digest, b.config.digest, b.layer.digest].sort())
    assert.equal(await store.exists(a.layer), true)
    assert.equal(await store.exists(sig.manifest), true)

    await store.untag('a:1')
    const all = await store.gc()
    assert.equal(all.removed.length, 6) // a's three blobs, the signature's three
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'))
    assert.deepEqual(index.manifests, [])
    await assert.rejects(store.untag('a:1'), {code: 'NOT_FOUND'})
  })

  it('survives concurrent writers to index.json (two processes)', async () => {
    const store = await OciLayoutStore.open(dir)
    const a = await pushArtifact(store, 'a')
    const script = `
      import {OciLayoutStore} from ${JSON.stringify(new URL('../../registry-client/layout-store.js', import.meta.url).href)}
      const s = await OciLayoutStore.open(process.argv[1])
      const d = JSON.parse(process.argv[2])
      await Promise.all(Array.from({length: 20}, (_, i) => s.tag(d, process.argv[3] + ':' + i)))
    `
    await Promise.all(
      ['p', 'q', 'r'].map((p) => run(process.execPath, ['--input-type=module', '-e', script, dir, JSON.stringify(a.manifest), p])),
    )
    const tags = await store.tags()
    assert.equal(tags.length, 60)
  })

  it('writes a layout skopeo reads by bare tag (export shape)', async function () {
    const store = await OciLayoutStore.open(join(dir, 'store'))
    const a = await pushArtifact(store, 'a')
    await store.tag(a.manifest, 'my-mixin:1.2.3')
    const out = await OciLayoutStore.open(join(dir, 'out'))
    const result = await copy(store, 'my-mixin:1.2.3', out, '1.2.3')
    assert.equal(result.descriptor.digest, a.manifest.digest)
    const {stdout} = await run('skopeo', ['inspect', '--raw', `oci:${join(dir, 'out')}:1.2.3`])
    assert.equal(stdout, a.bytes.toString())
  })
})

describe('registry-client: copy', () => {
  it('copies a graph, skips what the destination has, copies referrers', async () => {
    const src = new MemoryStore()
    const a = await pushArtifact(src, 'a')
    await src.tag(a.manifest, 'v1')
    const sig = await pushArtifact(src, 'sig', {subject: a.manifest})
    const dst = new MemoryStore()
    const first = await copy(src, 'v1', dst, 'w1', {referrers: true})
    assert.equal(first.blobsCopied, 6)
    assert.equal(first.bytesCopied, a.manifest.size + a.config.size + a.layer.size + sig.manifest.size + sig.config.size + sig.layer.size)
    assert.equal((await dst.resolve('w1')).digest, a.manifest.digest)
    assert.deepEqual((await dst.referrers(a.manifest)).map((d) => d.digest), [sig.manifest.digest])
    const again = await copy(src, 'v1', dst, 'w1')
    assert.equal(again.bytesCopied, 0)
    const other = await copy(src, 'v1', dst, 'w2')
    assert.equal(other.bytesCopied, 0)
    assert.equal(other.blobsSkipped, 1)
  })

  it('picks linux/amd64 from a multi-platform index when asked', async () => {
    const src = new MemoryStore()
    const amd = await pushArtifact(src, 'amd64')
    const arm = await pushArtifact(src, 'arm64')
    const indexBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [
          {...arm.manifest, platform: {os: 'linux', architecture: 'arm64'}},
          {...amd.manifest, platform: {os: 'linux', architecture: 'amd64'}},
        ],
      }),
    )
    const index = describeBytes(MediaType.OciIndex, indexBytes)
    await src.push(index, indexBytes)
    await src.tag(index, 'multi')
    const dst = new MemoryStore()
    const r = await copy(src, 'multi', dst, 'x', {platform: {os: 'linux', architecture: 'amd64'}})
    assert.equal(r.descriptor.digest, amd.manifest.digest)
    assert.equal(await dst.exists(arm.layer), false)
    const whole = await copy(src, 'multi', new MemoryStore(), 'x')
    assert.equal(whole.descriptor.digest, index.digest)
    assert.equal(whole.blobsCopied, 7)
  })
})
