import assert from 'node:assert/strict'
import {cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync} from 'node:fs'
import {chown, mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {inspectKit, listStore, readKitArtifact, removeFromStore} from '../../kit-compiler/artifact.js'
import {buildKit, InvalidTagError, storeReference} from '../../kit-compiler/build.js'
import {KitValidationError} from '../../kit-compiler/diagnostics.js'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {corpusDir, sampleKitsDir} from '../support/paths.js'
import {cleanupKits, makeKit, mixin, sandbox} from '../support/kit-dir.js'
import {snapshot} from './helpers.js'

const KIT_FILES: Record<string, string | {content: string; mode: number}> = {
  'files/home/.config/lint/config.toml': 'strict = true\n',
  'files/home/.bashrc': 'export LINT=1\n',
  'files/workspace/scripts/lint.sh': {content: '#!/bin/sh\nexec lint "$@"\n', mode: 0o755},
  'files/workspace/.lintrc': '{}\n',
  'files/workspace/docs/README.md': '# Lint\n',
}

/** Copies `src` to a new dir creating entries in reverse order, with shuffled mtimes and another umask. */
function scrambledCopy(src: string): string {
  const dst = makeKit('')
  const walk = (rel: string): string[] => {
    const names = readdirSync(join(src, rel), {withFileTypes: true})
    return names.flatMap((d) => (d.isDirectory() ? [join(rel, d.name) + '/', ...walk(join(rel, d.name))] : [join(rel, d.name)]))
  }
  const all = walk('').sort().reverse()
  const old = process.umask(0o077)
  try {
    for (const rel of all.filter((r) => r.endsWith('/')).reverse()) mkdirSync(join(dst, rel), {recursive: true})
    for (const rel of all.filter((r) => !r.endsWith('/'))) cpSync(join(src, rel), join(dst, rel), {preserveTimestamps: false})
  } finally {
    process.umask(old)
  }
  let t = 1_000_000_000
  for (const rel of all) {
    t += 7919 * 3600
    utimesSync(join(dst, rel), t, t)
  }
  return dst
}

describe('kit-compiler: buildKit', () => {
  let home: string
  let store: OciLayoutStore
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'kit-build-home-'))
    store = await OciLayoutStore.open(join(home, 'store'))
  })
  afterEach(async () => {
    await rm(home, {recursive: true, force: true})
  })
  after(cleanupKits)

  it('writes the OCI-v2 kit artifact: artifactType, config = spec bytes verbatim, one tar+gzip layer, annotations', async () => {
    const spec = mixin('version: 1.2.3\ndisplayName: Lint   # a comment kept verbatim\ndescription: Lints things\nsourceURL: https://example.com/lint\n', 'lint')
    const dir = makeKit(spec, KIT_FILES)
    const r = await buildKit(dir, {store, sourceDateEpoch: 1700000000})
    assert.equal(r.reference, 'lint:1.2.3')
    const manifestBytes = readFileSync(store.blobPath(r.digest))
    const manifest = JSON.parse(manifestBytes.toString('utf8'))
    assert.equal(manifestBytes.toString('utf8'), JSON.stringify(manifest), 'compact, deterministic serialisation')
    assert.equal(manifest.schemaVersion, 2)
    assert.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json')
    assert.equal(manifest.artifactType, 'application/vnd.docker.sandbox.kit.v2')
    assert.equal(manifest.config.mediaType, 'application/vnd.docker.sandbox.kit.v2.spec+yaml')
    assert.equal(readFileSync(store.blobPath(manifest.config.digest), 'utf8'), spec)
    assert.equal(manifest.layers.length, 1)
    assert.equal(manifest.layers[0].mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip')
    assert.deepEqual(manifest.annotations, {
      'org.opencontainers.image.created': '2023-11-14T22:13:20Z',
      'org.opencontainers.image.description': 'Lints things',
      'org.opencontainers.image.source': 'https://example.com/lint',
      'org.opencontainers.image.title': 'Lint',
      'vnd.docker.sandbox.kit.kind': 'mixin',
      'vnd.docker.sandbox.kit.name': 'lint',
      'vnd.docker.sandbox.kit.version': '1.2.3',
    })
    assert.deepEqual(Object.keys(manifest.annotations), Object.keys(manifest.annotations).sort())
    const resolved = await store.resolve('lint:1.2.3')
    assert.equal(resolved.digest, r.digest)
    assert.equal(r.size, manifestBytes.length)
  })

  it('created is the fixed epoch without SOURCE_DATE_EPOCH; title falls back to the name', async () => {
    const saved = process.env.SOURCE_DATE_EPOCH
    delete process.env.SOURCE_DATE_EPOCH
    try {
      const r = await buildKit(makeKit(mixin('', 'plain')), {store})
      const manifest = JSON.parse(readFileSync(store.blobPath(r.digest), 'utf8'))
      assert.equal(manifest.annotations['org.opencontainers.image.created'], '1970-01-01T00:00:00Z')
      assert.equal(manifest.annotations['org.opencontainers.image.title'], 'plain')
      assert.equal(r.reference, 'plain:latest')
    } finally {
      if (saved !== undefined) process.env.SOURCE_DATE_EPOCH = saved
    }
  })

  it('is reproducible: the same kit twice, and a copy with shuffled mtimes, reversed creation order, another umask and owner', async () => {
    const dir = makeKit(mixin('version: 0.1.0\n', 'repro'), KIT_FILES)
    const a = await buildKit(dir, {store, tag: 'repro:a'})
    const b = await buildKit(dir, {store, tag: 'repro:b'})
    assert.equal(a.digest, b.digest)
    const copy = scrambledCopy(dir)
    if (process.getuid?.() === 0) await chown(join(copy, 'files/home/.bashrc'), 4321, 4321)
    const otherStore = await OciLayoutStore.open(join(home, 'other'))
    const c = await buildKit(copy, {store: otherStore, tag: 'repro:c'})
    assert.equal(c.digest, a.digest)
    assert.equal(c.layer.digest, a.layer.digest)
    // The digest does change with the content.
    writeFileSync(join(copy, 'files/home/.bashrc'), 'export LINT=2\n')
    assert.notEqual((await buildKit(copy, {store: otherStore, tag: 'repro:d'})).digest, a.digest)
  })

  it('keeps exec bits in the layer (0755), other files 0644', async () => {
    const r = await buildKit(makeKit(mixin('', 'modes'), KIT_FILES), {store})
    const info = await inspectKit(store, r.reference)
    const modes = Object.fromEntries(info.files.filter((f) => f.type === 'file').map((f) => [f.path, f.mode.toString(8)]))
    assert.deepEqual(modes, {
      'home/agent/.bashrc': '644',
      'home/agent/.config/lint/config.toml': '644',
      'workspace/.lintrc': '644',
      'workspace/docs/README.md': '644',
      'workspace/scripts/lint.sh': '755',
    })
  })

  it('tags as given; a bare name gets latest; bad tags are refused before anything is written', async () => {
    const dir = makeKit(mixin('version: 2.0.0\n', 'tagged'))
    assert.equal((await buildKit(dir, {store, tag: 'team/tagged:v2'})).reference, 'team/tagged:v2')
    assert.equal((await buildKit(dir, {store, tag: 'tagged'})).reference, 'tagged:latest')
    assert.equal((await buildKit(dir, {store, tag: 'localhost:5000/x/tagged:2.0.0'})).reference, 'localhost:5000/x/tagged:2.0.0')
    const before = snapshot(join(home, 'store'))
    await assert.rejects(buildKit(dir, {store, tag: 'Tagged:1'}), InvalidTagError)
    await assert.rejects(buildKit(dir, {store, tag: 'tagged:bad tag'}), /invalid tag "tagged:bad tag"/)
    assert.deepEqual(snapshot(join(home, 'store')), before)
    assert.equal(storeReference(undefined, {name: 'x', version: '1.0.0+build.5'}), 'x:1.0.0_build.5')
  })

  it('a failing build leaves the store unchanged (binary file, symlink escape, invalid spec)', async () => {
    await buildKit(makeKit(mixin('', 'existing')), {store})
    const before = snapshot(join(home, 'store'))
    const binary = makeKit(mixin('', 'bad-binary'), {'files/home/a.txt': 'ok\n'})
    writeFileSync(join(binary, 'files/home/tool'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x00]))
    await assert.rejects(buildKit(binary, {store}), (err: unknown) => {
      assert.ok(err instanceof KitValidationError)
      assert.ok(err.diagnostics.some((d) => d.file.endsWith(join('files', 'home', 'tool')) && d.code === 'binary-file'))
      return true
    })
    const escape = makeKit(mixin('', 'bad-link'), {'files/home/a.txt': 'ok\n'})
    symlinkSync('/etc/passwd', join(escape, 'files/home/passwd'))
    await assert.rejects(buildKit(escape, {store}), /passwd/)
    await assert.rejects(buildKit(makeKit('schemaVersion: "2"\nkind: mixin\nname: Bad_Name\n'), {store}), KitValidationError)
    assert.deepEqual(snapshot(join(home, 'store')), before)
    assert.deepEqual((await store.list()).map((r) => r.reference), ['existing:latest'])
  })

  it('reads the artifact back: manifest, spec bytes, file list; lists and removes it', async () => {
    const spec = sandbox('version: 1.0.0\n', 'agent')
    const r = await buildKit(makeKit(spec, KIT_FILES), {store})
    const art = await readKitArtifact(store, 'agent:1.0.0')
    assert.equal(art.specBytes.toString('utf8'), spec)
    assert.equal(art.descriptor.digest, r.digest)
    const info = await inspectKit(store, 'agent:1.0.0')
    assert.equal(info.spec.kind, 'sandbox')
    assert.equal(info.spec.sandbox?.image, 'example/agent:1')
    assert.ok(info.files.some((f) => f.path === 'workspace/scripts/lint.sh' && f.size === '#!/bin/sh\nexec lint "$@"\n'.length))
    await buildKit(makeKit(mixin('', 'other')), {store})
    assert.deepEqual(
      (await listStore(store)).map((i) => [i.reference, i.kind, i.name, i.version]),
      [
        ['agent:1.0.0', 'sandbox', 'agent', '1.0.0'],
        ['other:latest', 'mixin', 'other', undefined],
      ],
    )
    const removed = await removeFromStore(store, 'agent:1.0.0')
    assert.deepEqual(removed.removed, ['agent:1.0.0'])
    assert.equal(removed.blobsRemoved, 3)
    assert.equal(existsSync(store.blobPath(r.digest)), false)
    assert.deepEqual((await listStore(store)).map((i) => i.reference), ['other:latest'])
    await assert.rejects(removeFromStore(store, 'agent:1.0.0'), /no such reference/)
    await assert.rejects(inspectKit(store, 'nope'), /nope:latest: no such reference/)
  })

  it('kit rm keeps blobs another kit still uses (two behaviour-only mixins share the empty layer)', async () => {
    const a = await buildKit(makeKit(mixin('', 'only-a')), {store})
    const b = await buildKit(makeKit(mixin('', 'only-b')), {store})
    assert.equal(a.layer.digest, b.layer.digest)
    const removed = await removeFromStore(store, 'only-a')
    assert.equal(removed.blobsRemoved, 2, 'manifest and config, not the shared layer')
    assert.ok(existsSync(store.blobPath(a.layer.digest)))
    assert.equal((await inspectKit(store, 'only-b')).files.length, 0)
    const byDigest = await removeFromStore(store, b.digest)
    assert.deepEqual(byDigest.removed, ['only-b:latest'])
    assert.equal(existsSync(store.blobPath(a.layer.digest)), false)
  })

  it('builds every sample kit', async function () {
    if (!existsSync(sampleKitsDir)) this.skip()
    const kits = readdirSync(sampleKitsDir, {withFileTypes: true}).filter((d) => d.isDirectory() && existsSync(join(sampleKitsDir, d.name, 'spec.yaml')))
    for (const d of kits) {
      const r = await buildKit(join(sampleKitsDir, d.name), {store})
      const art = await readKitArtifact(store, r.reference)
      assert.equal(art.specBytes.toString('utf8'), await readFile(join(sampleKitsDir, d.name, 'spec.yaml'), 'utf8'))
    }
  })
})

describe('kit-compiler: buildKit over the corpus of real kits', () => {
  const kitsDir = join(corpusDir, 'kits')
  const kits = existsSync(kitsDir) ? readdirSync(kitsDir, {withFileTypes: true}).filter((d) => d.isDirectory()).map((d) => d.name).sort() : []
  let home: string
  let store: OciLayoutStore
  before(async function () {
    if (kits.length === 0) this.skip()
    home = await mkdtemp(join(tmpdir(), 'kit-corpus-'))
    store = await OciLayoutStore.open(join(home, 'store'))
  })
  after(async () => {
    if (home) await rm(home, {recursive: true, force: true})
  })

  for (const name of kits) {
    it(`builds ${name}, reproducibly, and reads it back`, async () => {
      const dir = join(kitsDir, name)
      const a = await buildKit(dir, {store, tag: `corpus-${name}:a`})
      const b = await buildKit(dir, {store, tag: `corpus-${name}:b`})
      assert.equal(a.digest, b.digest)
      const art = await readKitArtifact(store, `corpus-${name}:a`)
      const specFile = existsSync(join(dir, 'spec.yaml')) ? 'spec.yaml' : 'spec.yml'
      assert.ok(art.specBytes.equals(readFileSync(join(dir, specFile))), 'config is the spec verbatim')
      const info = await inspectKit(store, `corpus-${name}:a`)
      assert.equal(info.annotations['vnd.docker.sandbox.kit.name'], info.spec.name)
      assert.equal(info.annotations['vnd.docker.sandbox.kit.kind'], info.spec.kind)
    })
  }
})
