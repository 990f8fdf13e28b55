import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {
  copy,
  describe as describeBytes,
  MediaType,
  MemoryStore,
  OciLayoutStore,
  readAll,
  RemoteRepository,
} from '../../registry-client/index.js'
import {startRegistry, type TestRegistry} from '../support/registry.js'
import {pushArtifact} from './helpers.js'

const run = promisify(execFile)

describe('registry-client: remote (plain HTTP distribution)', function () {
  this.timeout(60_000)
  let registry: TestRegistry
  let dir: string
  before(async () => {
    registry = await startRegistry()
    dir = await mkdtemp(join(tmpdir(), 'kit-remote-'))
  })
  after(async () => {
    await registry?.stop()
    await rm(dir, {recursive: true, force: true})
  })

  const repo = (name: string, opts = {}) => RemoteRepository.open(`${registry.host}/${name}`, {plainHttp: true, ...opts})

  it('pushes a graph that skopeo reads, and pulls it back verified', async () => {
    const src = new MemoryStore()
    const a = await pushArtifact(src, 'a')
    await src.tag(a.manifest, 'v1')
    const dst = repo('team/a')
    const pushed = await copy(src, 'v1', dst, '1.0.0')
    assert.equal(pushed.blobsCopied, 3)
    const {stdout} = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/team/a:1.0.0`])
    assert.equal(stdout, a.bytes.toString())
    const resolved = await dst.resolve('1.0.0')
    assert.deepEqual(resolved, {mediaType: MediaType.OciManifest, digest: a.manifest.digest, size: a.manifest.size})
    const local = await OciLayoutStore.open(join(dir, 'store'))
    const pulled = await copy(dst, '1.0.0', local, `${registry.host}/team/a:1.0.0`)
    assert.equal(pulled.descriptor.digest, a.manifest.digest)
    assert.deepEqual(await readAll(await local.fetch(a.layer), a.layer), Buffer.from('layer of a'))
    const again = await copy(src, 'v1', dst, '1.0.0')
    assert.equal(again.bytesCopied, 0)
  })

  it('uploads large blobs in PATCH chunks and streams them back', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17)
    const desc = describeBytes(MediaType.OciLayerTar, data)
    const r = repo('team/chunked', {chunkThreshold: 1024 * 1024, chunkSize: 1024 * 1024})
    const {Readable} = await import('node:stream')
    await r.push(desc, Readable.from([data.subarray(0, 1000), data.subarray(1000)]))
    assert.equal(await r.exists(desc), true)
    assert.deepEqual(await readAll(await r.fetch(desc), desc, Infinity), data)
  })

  it('mounts blobs across repositories of the same registry', async () => {
    const src = new MemoryStore()
    const a = await pushArtifact(src, 'mount-me')
    await src.tag(a.manifest, 'x')
    await copy(src, 'x', repo('team/one'), 'x')
    const events: string[] = []
    const r = await copy(repo('team/one'), 'x', repo('team/two'), 'x', {mountFrom: 'team/one', onProgress: (e) => events.push(e.type)})
    assert.equal(r.blobsSkipped, 2)
    assert.deepEqual(events.filter((e) => e === 'mount'), ['mount', 'mount'])
    assert.equal(await repo('team/two').exists(a.layer), true)
  })

  it('lists tags across Link pages, keeping their case', async () => {
    const src = new MemoryStore()
    const a = await pushArtifact(src, 'tags')
    await src.tag(a.manifest, 'x')
    const r = repo('team/tags', {tagPageSize: 2})
    for (const t of ['1.0.0', '1.1.0', 'Latest', 'latest', 'v2']) await copy(src, 'x', r, t)
    assert.deepEqual((await r.tags()).sort(), ['1.0.0', '1.1.0', 'Latest', 'latest', 'v2'])
    assert.deepEqual(await repo('team/none').tags(), [])
  })

  it('keeps referrers with the tag-schema fallback (distribution 2.8 has no referrers API)', async () => {
    const src = new MemoryStore()
    const a = await pushArtifact(src, 'subject')
    await src.tag(a.manifest, 'x')
    const sig = await pushArtifact(src, 'sig', {subject: a.manifest, artifactType: 'application/vnd.test.sig'})
    const r = repo('team/ref')
    await copy(src, 'x', r, '1', {referrers: true})
    const list = await r.referrers(a.manifest)
    assert.deepEqual(list.map((d) => [d.digest, d.artifactType]), [[sig.manifest.digest, 'application/vnd.test.sig']])
    assert.deepEqual(await r.referrers(a.manifest, 'application/other'), [])
    assert.ok((await r.tags()).includes('sha256-' + a.manifest.digest.slice(7)))
    // and back: a pull with referrers brings the signature along
    const back = new MemoryStore()
    await copy(r, '1', back, '1', {referrers: true})
    assert.deepEqual((await back.referrers(a.manifest)).map((d: {digest: string}) => d.digest), [sig.manifest.digest])
  })

  it('pulls what skopeo pushed (an OCI image layout copied with skopeo)', async () => {
    const store = await OciLayoutStore.open(join(dir, 'skopeo-src'))
    const a = await pushArtifact(store, 'from-skopeo')
    await store.tag(a.manifest, 'v1')
    await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${join(dir, 'skopeo-src')}:v1`, `docker://${registry.host}/peer/x:v1`])
    const local = new MemoryStore()
    const r = await copy(repo('peer/x'), 'v1', local, 'v1')
    assert.equal(r.descriptor.digest, a.manifest.digest)
    // and skopeo copies ours into an OCI layout
    await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${registry.host}/team/a:1.0.0`, `oci:${join(dir, 'skopeo-out')}:1.0.0`])
    const index = JSON.parse(await readFile(join(dir, 'skopeo-out', 'index.json'), 'utf8'))
    assert.equal(index.manifests.length, 1)
  })

  it('names the reference and the status when something is missing', async () => {
    await assert.rejects(repo('team/a').resolve('9.9.9'), (err: Error & {code?: string}) => {
      assert.equal(err.code, 'NOT_FOUND')
      assert.match(err.message, new RegExp(`${registry.host}/team/a:9\\.9\\.9`))
      return true
    })
  })
})
