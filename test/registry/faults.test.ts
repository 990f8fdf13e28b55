import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdtemp, readdir, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {
  copy,
  describe as describeBytes,
  type Descriptor,
  MediaType,
  MemoryStore,
  OciLayoutStore,
  readAll,
  RemoteRepository,
} from '../../registry-client/index.js'
import {startFaultProxy, type FaultProxy} from '../support/fault-proxy.js'
import {startRegistry, type TestRegistry} from '../support/registry.js'

/** An artifact with a 2 MiB layer, so a body can be cut halfway. */
async function bigArtifact(store: MemoryStore, seed: string) {
  const layerBytes = randomBytes(2 * 1024 * 1024)
  const configBytes = Buffer.from(`{"seed":"${seed}"}`)
  const layer = describeBytes(MediaType.OciLayerTarGzip, layerBytes)
  const config = describeBytes(MediaType.OciConfig, configBytes)
  const bytes = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer]}))
  const manifest = describeBytes(MediaType.OciManifest, bytes)
  await store.push(layer, layerBytes)
  await store.push(config, configBytes)
  await store.push(manifest, bytes)
  await store.tag(manifest, 'v1')
  return {layer, config, manifest, layerBytes}
}

describe('registry-client: faults between us and the registry', function () {
  this.timeout(60_000)
  let registry: TestRegistry
  let proxy: FaultProxy
  let dir: string
  let art: Awaited<ReturnType<typeof bigArtifact>>
  const fast = {retries: 3, baseDelayMs: 20, maxDelayMs: 100, maxRetryAfterMs: 5000}

  before(async () => {
    registry = await startRegistry()
    proxy = await startFaultProxy(registry.url)
    const src = new MemoryStore()
    art = await bigArtifact(src, 'faults')
    await copy(src, 'v1', RemoteRepository.open(`${registry.host}/faults/x`, {plainHttp: true}), 'v1')
  })
  after(async () => {
    await proxy?.stop()
    await registry?.stop()
  })
  beforeEach(async () => {
    proxy.clear()
    dir = await mkdtemp(join(tmpdir(), 'kit-faults-'))
  })
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  // Each test uses its own repository name so the client's per-host state starts the same.
  const viaProxy = () => RemoteRepository.open(`${proxy.host}/faults/x`, {plainHttp: true, retry: fast})

  async function pullInto(): Promise<{store: OciLayoutStore; result: Awaited<ReturnType<typeof copy>>}> {
    const store = await OciLayoutStore.open(join(dir, 'store'))
    const result = await copy(viaProxy(), 'v1', store, 'x:v1', {retry: fast})
    return {store, result}
  }

  async function assertIntact(store: OciLayoutStore, desc: Descriptor, bytes: Buffer) {
    assert.deepEqual(await readAll(await store.fetch(desc), desc, Infinity), bytes)
  }

  async function blobFiles(): Promise<string[]> {
    return readdir(join(dir, 'store', 'blobs', 'sha256')).catch(() => [])
  }

  it('resumes a blob download when the connection drops mid-blob', async () => {
    proxy.add({method: 'GET', path: /\/blobs\/sha256:/, action: 'drop-mid-body', times: 2})
    const {store} = await pullInto()
    await assertIntact(store, art.layer, art.layerBytes)
    assert.ok(proxy.rules.every((r) => r.fired === r.times))
  })

  it('asks for the rest when a body is truncated', async () => {
    proxy.add({method: 'GET', path: new RegExp(`/blobs/${art.layer.digest}`), action: 'truncate'})
    const {store} = await pullInto()
    await assertIntact(store, art.layer, art.layerBytes)
  })

  it('fetches a manifest again when its body is cut short or dropped', async () => {
    proxy.add({method: 'GET', path: /\/manifests\//, action: 'truncate'})
    proxy.add({method: 'GET', path: /\/manifests\//, action: 'drop-mid-body'})
    const {result} = await pullInto()
    assert.equal(result.descriptor.digest, art.manifest.digest)
    assert.ok(proxy.rules.every((r) => r.fired === 1))
  })

  it('lists tags again when the response drops', async () => {
    proxy.add({method: 'GET', path: /\/tags\/list/, action: 'drop-mid-body'})
    assert.deepEqual(await viaProxy().tags(), ['v1'])
    assert.equal(proxy.rules[0].fired, 1)
  })

  it('retries a 500 and then succeeds', async () => {
    proxy.add({method: 'HEAD', path: /\/manifests\/v1/, action: 'status', status: 500})
    proxy.add({method: 'GET', path: /\/blobs\//, action: 'status', status: 503, times: 2})
    const {result} = await pullInto()
    assert.equal(result.descriptor.digest, art.manifest.digest)
  })

  it('honours 429 with Retry-After', async () => {
    proxy.add({method: 'GET', path: /\/manifests\//, action: 'status', status: 429, headers: {'retry-after': '1'}})
    const started = Date.now()
    await pullInto()
    assert.ok(Date.now() - started >= 900, 'waited for Retry-After')
  })

  it('fails at once, with the status, when Retry-After asks for longer than the policy allows', async () => {
    proxy.add({method: 'HEAD', path: /\/manifests\//, action: 'status', status: 429, headers: {'retry-after': '3600'}})
    await assert.rejects(pullInto(), (err: Error & {status?: number}) => {
      assert.equal(err.status, 429)
      assert.match(err.message, new RegExp(`${proxy.host}/faults/x:v1: HTTP 429`))
      return true
    })
    assert.equal(proxy.rules[0].fired, 1)
  })

  it('retries connection resets', async () => {
    proxy.add({method: 'HEAD', path: /\/manifests\//, action: 'reset', times: 2})
    const {result} = await pullInto()
    assert.equal(result.descriptor.digest, art.manifest.digest)
  })

  it('refuses a blob with a wrong digest and stores nothing of it', async () => {
    proxy.add({method: 'GET', path: new RegExp(`/blobs/${art.layer.digest}`), action: 'corrupt', times: Infinity})
    await assert.rejects(pullInto(), (err: Error & {code?: string}) => {
      assert.equal(err.code, 'DIGEST_MISMATCH')
      assert.match(err.message, new RegExp(art.layer.digest))
      return true
    })
    const files = await blobFiles()
    assert.ok(!files.includes(art.layer.digest.slice(7)), 'no corrupt blob')
    assert.ok(!files.some((f) => f.startsWith('.tmp-')), 'no partial blob')
    const store = await OciLayoutStore.open(join(dir, 'store'))
    assert.deepEqual(await store.list(), [])
  })

  it('gives a clear error naming the reference and status once retries are spent', async () => {
    proxy.add({method: 'HEAD', path: /\/manifests\/v1/, action: 'status', status: 502, times: Infinity})
    await assert.rejects(pullInto(), (err: Error & {code?: string; status?: number}) => {
      assert.equal(err.status, 502)
      assert.match(err.message, new RegExp(`${proxy.host}/faults/x:v1: HTTP 502 \\(after 4 attempts\\)`))
      return true
    })
  })

  it('gives up on a download that keeps dropping, leaving no partial blob', async () => {
    proxy.add({method: 'GET', path: new RegExp(`/blobs/${art.layer.digest}`), action: 'reset', times: Infinity})
    await assert.rejects(pullInto(), (err: Error & {code?: string}) => {
      assert.equal(err.code, 'NETWORK')
      assert.match(err.message, new RegExp(art.layer.digest))
      return true
    })
    const files = await blobFiles()
    assert.ok(!files.includes(art.layer.digest.slice(7)))
    assert.ok(!files.some((f) => f.startsWith('.tmp-')))
  })

  it('starts an upload over when the connection drops mid-upload', async () => {
    const src = new MemoryStore()
    const fresh = await bigArtifact(src, 'upload')
    proxy.add({method: 'PUT', path: /\/blobs\/uploads\//, action: 'drop-request'})
    const dst = RemoteRepository.open(`${proxy.host}/faults/up`, {plainHttp: true, retry: fast})
    const result = await copy(src, 'v1', dst, 'v1', {retry: fast})
    assert.equal(result.descriptor.digest, fresh.manifest.digest)
    assert.equal(proxy.rules[0].fired, 1)
    const check = new MemoryStore()
    await copy(RemoteRepository.open(`${registry.host}/faults/up`, {plainHttp: true}), 'v1', check, 'v1')
    assert.deepEqual(check.get(fresh.layer.digest), fresh.layerBytes)
  })

  it('falls back to chunked uploads when a registry refuses a monolithic one', async () => {
    const src = new MemoryStore()
    const fresh = await bigArtifact(src, 'no-monolithic')
    // A proxy of its own: the client remembers per registry that monolithic uploads are refused.
    const own = await startFaultProxy(registry.url)
    try {
      own.add({method: 'PUT', path: /\/blobs\/uploads\/.*digest=/, action: 'status', status: 413})
      const dst = RemoteRepository.open(`${own.host}/faults/nomono`, {plainHttp: true, retry: fast, chunkSize: 1024 * 1024})
      await copy(src, 'v1', dst, 'v1', {retry: fast})
      assert.equal(own.rules[0].fired, 1)
      assert.ok(own.log.some((l) => l.startsWith('PATCH')))
      assert.equal(await dst.exists(fresh.layer), true)
      assert.equal(await dst.exists(fresh.config), true)
    } finally {
      await own.stop()
    }
  })

  it('re-sends a chunk the registry failed with 500', async () => {
    const src = new MemoryStore()
    const fresh = await bigArtifact(src, 'chunks')
    proxy.add({method: 'PATCH', path: /\/blobs\/uploads\//, action: 'status', status: 500})
    const dst = RemoteRepository.open(`${proxy.host}/faults/chunks`, {plainHttp: true, retry: fast, chunkThreshold: 1024, chunkSize: 512 * 1024})
    await copy(src, 'v1', dst, 'v1', {retry: fast})
    assert.equal(proxy.rules[0].fired, 1)
    assert.equal(proxy.log.filter((l) => l.startsWith('PATCH')).length, 5)
    assert.equal(await dst.exists(fresh.layer), true)
  })
})
