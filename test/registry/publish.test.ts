// push() and pull() against a real registry: semver publishing, ranges, Docker schema-2 images and
// multi-platform indexes (pushed by skopeo as the peer).
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {
  describe as describeBytes,
  type Descriptor,
  MediaType,
  MemoryStore,
  OciLayoutStore,
  pull,
  push,
  RemoteRepository,
} from '../../registry-client/index.js'
import {startRegistry, type TestRegistry} from '../support/registry.js'
import {pushArtifact} from './helpers.js'

const run = promisify(execFile)

describe('registry-client: push and pull with semver tags', function () {
  this.timeout(60_000)
  let registry: TestRegistry
  let dir: string
  before(async () => {
    registry = await startRegistry()
    dir = await mkdtemp(join(tmpdir(), 'kit-publish-'))
  })
  after(async () => {
    await registry?.stop()
    await rm(dir, {recursive: true, force: true})
  })

  const opts = {plainHttp: true}
  async function version(src: MemoryStore, v: string): Promise<Descriptor> {
    const a = await pushArtifact(src, `v${v}`, {annotations: {'org.opencontainers.image.version': v}})
    await src.tag(a.manifest, v)
    return a.manifest
  }
  const digestOf = async (repo: string, tag: string) => (await RemoteRepository.open(`${registry.host}/${repo}`, opts).resolve(tag)).digest

  it('moves x.y, x and latest only forward; prereleases move nothing; +build becomes _build', async () => {
    const src = new MemoryStore()
    const repo = `${registry.host}/sem/x`
    const v120 = await version(src, '1.2.0')
    assert.deepEqual((await push(src, '1.2.0', `${repo}:1.2.0`, opts)).tags, ['1.2.0', '1.2', '1', 'latest'])
    const v200 = await version(src, '2.0.0')
    assert.deepEqual((await push(src, '2.0.0', `${repo}:2.0.0`, opts)).tags, ['2.0.0', '2.0', '2', 'latest'])
    const v121 = await version(src, '1.2.1')
    assert.deepEqual((await push(src, '1.2.1', `${repo}:1.2.1`, opts)).tags, ['1.2.1', '1.2', '1'])
    assert.equal(await digestOf('sem/x', 'latest'), v200.digest)
    assert.equal(await digestOf('sem/x', '1'), v121.digest)
    const v115 = await version(src, '1.1.5')
    assert.deepEqual((await push(src, '1.1.5', `${repo}:1.1.5`, opts)).tags, ['1.1.5', '1.1'])
    assert.equal(await digestOf('sem/x', '1.2'), v121.digest)
    await version(src, '3.0.0-rc.1')
    assert.deepEqual((await push(src, '3.0.0-rc.1', `${repo}:3.0.0-rc.1`, opts)).tags, ['3.0.0-rc.1'])
    assert.equal(await digestOf('sem/x', 'latest'), v200.digest)
    // no tag in DEST: the version annotation, with + written as _
    await version(src, '2.0.1+build.7')
    const built = await push(src, '2.0.1+build.7', repo, opts)
    assert.deepEqual(built.tags, ['2.0.1_build.7', '2.0', '2', 'latest'])
    assert.equal(built.reference, `${repo}:2.0.1_build.7`)
    // re-pointing an exact tag needs force
    await assert.rejects(push(src, '1.1.5', `${repo}:1.2.0`, opts), {code: 'TAG_EXISTS'})
    const forced = await push(src, '1.1.5', `${repo}:1.2.0`, {...opts, force: true})
    assert.equal(forced.digest, v115.digest)
    assert.notEqual(forced.digest, v120.digest)
    // ranges
    const store = await OciLayoutStore.open(join(dir, 'store'))
    const r = await pull(`${repo}@~1.2.0`, store, opts)
    assert.deepEqual([r.tag, r.version, r.digest], ['1.2.1', '1.2.1', v121.digest])
    const any2 = await pull(`${repo}@>=2 <3`, store, opts)
    assert.equal(any2.tag, '2.0.1_build.7')
    assert.deepEqual(await store.tags(), [`${repo}:1.2.1`, `${repo}:2.0.1_build.7`])
    const pre = await pull(`${repo}@^3.0.0-rc.0`, store, opts)
    assert.equal(pre.version, '3.0.0-rc.1')
  })

  it('promotes between repositories of one registry by mounting, uploading no blob', async () => {
    const src = new MemoryStore()
    await version(src, '4.0.0')
    await push(src, '4.0.0', `${registry.host}/team/promo:4.0.0`, opts)
    const store = await OciLayoutStore.open(join(dir, 'promo-store'))
    const pulled = await pull(`${registry.host}/team/promo:4.0.0`, store, opts)
    const promoted = await push(store, pulled.storedAs[0], `${registry.host}/prod/promo:4.0.0`, opts)
    assert.equal(promoted.digest, pulled.digest)
    assert.equal(promoted.blobsSkipped, 2, 'config and layer mounted')
    // only the manifest (and the moved tags) went up
    assert.ok(promoted.bytesUploaded < 4 * pulled.size + 1)
  })

  it('pulls Docker schema-2 images and picks linux/amd64 from a manifest list (pushed by skopeo)', async () => {
    // Two single-platform images as OCI layouts → skopeo pushes them as Docker schema 2.
    const images: Record<string, Descriptor> = {}
    for (const arch of ['amd64', 'arm64']) {
      const layout = await OciLayoutStore.open(join(dir, `img-${arch}`))
      const layerBytes = Buffer.from(`layer for ${arch}`)
      const configBytes = Buffer.from(JSON.stringify({architecture: arch, os: 'linux', rootfs: {type: 'layers', diff_ids: []}, config: {}}))
      const layer = describeBytes(MediaType.OciLayerTar, layerBytes)
      const config = describeBytes(MediaType.OciConfig, configBytes)
      const bytes = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer]}))
      const manifest = describeBytes(MediaType.OciManifest, bytes)
      await layout.push(layer, layerBytes)
      await layout.push(config, configBytes)
      await layout.push(manifest, bytes)
      await layout.tag(manifest, 'v1')
      await run('skopeo', ['copy', '-q', '--format', 'v2s2', '--dest-tls-verify=false', `oci:${join(dir, `img-${arch}`)}:v1`, `docker://${registry.host}/img/${arch}:v1`])
      images[arch] = await RemoteRepository.open(`${registry.host}/img/${arch}`, opts).resolve('v1')
      assert.equal(images[arch].mediaType, MediaType.DockerManifest)
    }
    // A Docker manifest list over both, in one repository.
    const repo = RemoteRepository.open(`${registry.host}/img/multi`, opts)
    const src = new MemoryStore()
    for (const arch of ['amd64', 'arm64']) {
      const {copy} = await import('../../registry-client/index.js')
      await copy(RemoteRepository.open(`${registry.host}/img/${arch}`, opts), 'v1', src, arch)
    }
    const listBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.DockerManifestList,
        manifests: ['arm64', 'amd64'].map((arch) => ({...images[arch], platform: {architecture: arch, os: 'linux'}})),
      }),
    )
    const list = describeBytes(MediaType.DockerManifestList, listBytes)
    await src.push(list, listBytes)
    await src.tag(list, 'multi')
    await push(src, 'multi', `${registry.host}/img/multi:latest`, opts)
    assert.equal((await repo.resolve('latest')).mediaType, MediaType.DockerManifestList)
    const store = await OciLayoutStore.open(join(dir, 'pulled'))
    const r = await pull(`${registry.host}/img/multi:latest`, store, opts)
    assert.equal(r.digest, images.amd64.digest)
    assert.equal(r.mediaType, MediaType.DockerManifest)
    assert.deepEqual(await store.tags(), [`${registry.host}/img/multi:latest`])
    const arm = await pull(`${registry.host}/img/multi:latest`, await OciLayoutStore.open(join(dir, 'arm')), {...opts, platform: {os: 'linux', architecture: 'arm64'}})
    assert.equal(arm.digest, images.arm64.digest)
    await assert.rejects(pull(`${registry.host}/img/multi:latest`, store, {...opts, platform: {os: 'windows', architecture: 'amd64'}}), /no windows\/amd64 manifest/)
  })
})
