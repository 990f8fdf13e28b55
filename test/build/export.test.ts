import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {buildKit} from '../../kit-compiler/build.js'
import {exportKit} from '../../kit-compiler/export.js'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {cleanupKits, makeKit, mixin, sandbox} from '../support/kit-dir.js'

const run = promisify(execFile)

describe('kit-compiler: exportKit', () => {
  let home: string
  let store: OciLayoutStore
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'kit-export-'))
    store = await OciLayoutStore.open(join(home, 'store'))
  })
  after(async () => {
    cleanupKits()
    await rm(home, {recursive: true, force: true})
  })

  it('adds several kits to one layout, each by its bare tag, and skopeo reads both', async function () {
    const a = await buildKit(makeKit(mixin('version: 1.0.0\n', 'exp-a'), {'files/home/a': 'a\n'}), {store})
    const b = await buildKit(makeKit(sandbox('version: 2.0.0\n', 'exp-b')), {store})
    const dir = join(home, 'out', 'layout')
    assert.equal((await exportKit(store, 'exp-a:1.0.0', dir)).tag, '1.0.0')
    assert.equal((await exportKit(store, 'exp-b:2.0.0', dir)).format, 'directory')
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'))
    assert.deepEqual(
      index.manifests.map((d: {digest: string; annotations: Record<string, string>}) => [d.annotations['org.opencontainers.image.ref.name'], d.digest]),
      [
        ['1.0.0', a.digest],
        ['2.0.0', b.digest],
      ],
    )
    if (!existsSync('/usr/bin/skopeo')) this.skip()
    for (const [tag, digest] of [['1.0.0', a.digest], ['2.0.0', b.digest]] as const) {
      const {stdout} = await run('skopeo', ['inspect', '--raw', `oci:${dir}:${tag}`])
      assert.equal('sha256:' + createHash('sha256').update(stdout).digest('hex'), digest)
    }
  })

  it('exports by digest (tag latest unless given) and by a --tag of choice', async () => {
    const r = await buildKit(makeKit(mixin('', 'exp-digest')), {store})
    const byDigest = await exportKit(store, r.digest, join(home, 'by-digest'))
    assert.equal(byDigest.tag, 'latest')
    assert.equal(byDigest.digest, r.digest)
    const tagged = await exportKit(store, 'exp-digest', join(home, 'tagged.tar'), {tag: 'v9'})
    assert.equal(tagged.format, 'tar')
    assert.equal(tagged.tag, 'v9')
    assert.deepEqual(readdirSync(home).filter((n) => n.includes('.tmp-')), [])
  })

  it('takes the kit\'s referrers (signatures, provenance) along', async () => {
    const r = await buildKit(makeKit(mixin('', 'exp-signed')), {store})
    const empty = Buffer.from('{}')
    const config = {mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:' + createHash('sha256').update(empty).digest('hex'), size: 2}
    await store.push(config, empty)
    const sig = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.example.signature',
        config,
        layers: [],
        subject: {mediaType: r.descriptor.mediaType, digest: r.digest, size: r.size},
      }),
    )
    const sigDesc = {mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha256:' + createHash('sha256').update(sig).digest('hex'), size: sig.length}
    await store.push(sigDesc, sig)
    const dir = join(home, 'signed')
    await exportKit(store, 'exp-signed', dir)
    const exported = await OciLayoutStore.open(dir)
    assert.deepEqual((await exported.referrers(r.descriptor)).map((d) => d.digest), [sigDesc.digest])
    const bare = join(home, 'unsigned')
    await exportKit(store, 'exp-signed', bare, {referrers: false})
    assert.deepEqual(await (await OciLayoutStore.open(bare)).referrers(r.descriptor), [])
  })

  it('refuses what is not a kit and leaves no output', async () => {
    await assert.rejects(exportKit(store, 'missing:1', join(home, 'none')), /missing:1: no such reference/)
    assert.equal(existsSync(join(home, 'none')), false)
  })
})
