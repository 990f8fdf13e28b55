// Registries, both ways, as sbx reads and writes them (issue 14): a v1 kit published the way sbx
// publishes schema v1 kits (spec.yaml and files/ in one ZIP layer, an empty config), a v2 kit whose
// registry dropped artifactType, extra layers of unknown media types, sbx's `_kit_<tag>` GC anchors
// and `sha256-<hex>` fallback tags, and kit push's warning for a tag that disagrees with the version.
// A real docker-registry on loopback; the ZIP is made by the zip tool.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {locateKit} from '../../runtime/sandbox/resolve.js'
import {loadKit} from '../../kit-compiler/load.js'
import {composeKitList} from '../../kit-compiler/compose.js'
import {V1_ZIP_MEDIA_TYPE} from '../../kit-compiler/model.js'
import {readZipKit} from '../../kit-compiler/artifact.js'
import {describe as describeBytes, MediaType, OciLayoutStore, RemoteRepository, type Descriptor} from '../../registry-client/index.js'
import {runKit} from '../support/cli.js'
import {sampleKitsDir} from '../support/paths.js'
import {startRegistry, type TestRegistry} from '../support/registry.js'

const run = promisify(execFile)

const V1_SPEC = `schemaVersion: "1"
kind: mixin
name: zip-tools
displayName: Zip tools
description: A v1 kit as sbx publishes it (ZIP layer)
network:
  allowedDomains: [tools.example.com]
  serviceDomains: {api.tools.example.com: tools}
  serviceAuth: {tools: {headerName: X-Tools-Key, valueFormat: "%s"}}
credentials:
  sources:
    tools: {env: [TOOLS_API_KEY]}
environment:
  variables: {TOOLS_MODE: fast}
  proxyManaged: [TOOLS_API_KEY]
commands:
  install:
    - {command: "true", user: root}
memory: Use the zip tools.
`

describe('registries: sbx v1 ZIP kits, dropped artifactType, unknown layers, housekeeping tags', function () {
  this.timeout(120_000)
  let registry: TestRegistry
  let dir: string
  let env: NodeJS.ProcessEnv
  let zipBytes: Buffer

  const pushRaw = async (repo: RemoteRepository, tag: string, manifest: object, blobs: Array<[Descriptor, Buffer]>): Promise<Descriptor> => {
    for (const [d, b] of blobs) await repo.push(d, b)
    const bytes = Buffer.from(JSON.stringify(manifest))
    const desc = describeBytes(MediaType.OciManifest, bytes)
    await repo.pushReference(desc, bytes, tag)
    return desc
  }

  before(async () => {
    registry = await startRegistry()
    dir = await mkdtemp(join(tmpdir(), 'kit-compat-registry-'))
    env = {PATH: process.env.PATH, HOME: dir, KIT_HOME: join(dir, 'home'), DOCKER_CONFIG: join(dir, 'docker'), KIT_ORG_CONFIG: join(dir, 'org.json'), CI: '1'}
    // The kit directory, zipped as sbx's docs describe a kit: spec.yaml at the root, files/ beside it.
    const src = join(dir, 'zip-tools')
    await mkdir(join(src, 'files', 'home', '.zip-tools'), {recursive: true})
    await mkdir(join(src, 'files', 'workspace'), {recursive: true})
    await writeFile(join(src, 'spec.yaml'), V1_SPEC)
    await writeFile(join(src, 'files', 'home', '.zip-tools', 'config.toml'), 'mode = "fast"\n')
    await writeFile(join(src, 'files', 'home', '.zip-tools', 'run.sh'), '#!/bin/sh\necho zip-tools\n')
    await chmod(join(src, 'files', 'home', '.zip-tools', 'run.sh'), 0o755)
    await writeFile(join(src, 'files', 'workspace', 'NOTES.md'), '# notes\n')
    await writeFile(join(src, 'README.md'), 'not part of the kit\n')
    await run('zip', ['-q', '-r', '-X', join(dir, 'kit.zip'), 'spec.yaml', 'files', 'README.md'], {cwd: src})
    zipBytes = await readFile(join(dir, 'kit.zip'))
  })
  after(async () => {
    await registry?.stop()
    await rm(dir, {recursive: true, force: true})
  })

  it('a v1 ZIP kit (empty config, no artifactType, an extra unknown layer) pulls, inspects and composes with the sample agent', async () => {
    const repo = RemoteRepository.open(`${registry.host}/sbx/zip-tools-kit`)
    const empty = Buffer.from('{}')
    const config = describeBytes(MediaType.OciEmpty, empty)
    const layer = describeBytes(V1_ZIP_MEDIA_TYPE, zipBytes)
    const unknownBytes = Buffer.from('an attestation kit knows nothing about\n')
    const unknown = describeBytes('application/vnd.example.attestation.v1+json', unknownBytes)
    const manifest = {schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer, unknown], annotations: {'org.opencontainers.image.title': 'zip-tools'}}
    const desc = await pushRaw(repo, '1.0.0', manifest, [[config, empty], [layer, zipBytes], [unknown, unknownBytes]])

    const pulled = await runKit(['pull', `${registry.host}/sbx/zip-tools-kit:1.0.0`, '--json'], {env})
    assert.equal(pulled.code, 0, pulled.stderr + pulled.stdout)

    const inspected = await runKit(['inspect', `${registry.host}/sbx/zip-tools-kit:1.0.0`, '--json'], {env})
    assert.equal(inspected.code, 0, inspected.stderr + inspected.stdout)
    const info = inspected.json
    assert.equal(info.digest, desc.digest)
    assert.equal(info.format, 'v1-zip')
    assert.equal(info.schemaVersion, '1')
    assert.equal(info.layer.mediaType, V1_ZIP_MEDIA_TYPE)
    assert.equal(info.spec.name, 'zip-tools')
    assert.equal(info.spec.kind, 'mixin')
    assert.deepEqual(info.spec.credentials, [{service: 'tools', apiKey: {name: 'TOOLS_API_KEY', proxyManaged: true, inject: [{domain: 'api.tools.example.com', header: 'X-Tools-Key', format: '%s'}]}}])
    const files = Object.fromEntries(info.files.map((f: {path: string; mode: number; type: string}) => [f.path, f]))
    assert.deepEqual(Object.keys(files).filter((p) => files[p].type === 'file').sort(), ['home/agent/.zip-tools/config.toml', 'home/agent/.zip-tools/run.sh', 'workspace/NOTES.md'])
    assert.equal(files['home/agent/.zip-tools/run.sh'].mode, 0o755, 'the exec bit survives (kit keeps exec bits)')
    assert.equal(files['home/agent/.zip-tools/config.toml'].mode, 0o644)

    const human = await runKit(['inspect', `${registry.host}/sbx/zip-tools-kit:1.0.0`], {env})
    assert.match(human.stdout, /Format: +sbx v1 ZIP .*schemaVersion "1"/)

    // As kit run resolves it: materialised from the store, loaded, composed with the sample agent.
    const store = await OciLayoutStore.open(join(env.KIT_HOME!, 'store'))
    const located = await locateKit(`${registry.host}/sbx/zip-tools-kit:1.0.0`, {store, env})
    assert.equal(located.source, 'store')
    const mixin = await loadKit(located.dir)
    assert.equal(mixin.schemaVersion, '1')
    assert.equal(mixin.files.find((f) => f.path === 'home/agent/.zip-tools/run.sh')?.mode, 0o755)
    const agent = await loadKit(join(sampleKitsDir, 'shell-agent'))
    const {sandbox} = composeKitList([agent, mixin].map((k) => ({spec: k.spec, files: k.files})))
    assert.deepEqual(sandbox.kits.map((k) => k.name), ['shell-agent', 'zip-tools'])
    assert.equal(sandbox.environment.TOOLS_MODE, 'fast')
    assert.ok(sandbox.memory.sections.some((s) => s.kit === 'zip-tools' && /zip tools/.test(s.content)))
  })

  it('a v2 kit whose registry dropped artifactType (routed on the config media type), with an extra unknown layer, pulls and inspects', async () => {
    const kitDir = join(dir, 'github')
    await cp(join(sampleKitsDir, 'github'), kitDir, {recursive: true})
    const built = await runKit(['build', kitDir, '--tag', 'gh-src:1', '--json'], {env})
    assert.equal(built.code, 0, built.stderr)
    const store = await OciLayoutStore.open(join(env.KIT_HOME!, 'store'))
    const root = await store.resolve('gh-src:1')
    const m = JSON.parse((await store.fetchBytes(root)).toString())
    const configBytes = await store.fetchBytes(m.config)
    const layerBytes = await store.fetchBytes(m.layers[0])
    const extraBytes = Buffer.from('sig')
    const extra = describeBytes('application/vnd.example.signature', extraBytes)
    delete m.artifactType
    m.layers = [extra, m.layers[0]]
    const repo = RemoteRepository.open(`${registry.host}/team/gh-no-type`)
    await pushRaw(repo, '1.0.0', m, [[m.config, configBytes], [m.layers[1], layerBytes], [extra, extraBytes]])
    const pulled = await runKit(['pull', `${registry.host}/team/gh-no-type:1.0.0`, '--json'], {env})
    assert.equal(pulled.code, 0, pulled.stderr + pulled.stdout)
    const inspected = await runKit(['inspect', `${registry.host}/team/gh-no-type:1.0.0`, '--json'], {env})
    assert.equal(inspected.code, 0, inspected.stderr)
    assert.equal(inspected.json.format, 'v2')
    assert.equal(inspected.json.layer.digest, m.layers[1].digest)
    assert.equal(inspected.json.spec.name, 'github')
  })

  it('kit tags lists versions only: not sbx\'s _kit_<tag> GC anchors nor sha256-<hex> fallback tags', async () => {
    const repo = RemoteRepository.open(`${registry.host}/sbx/zip-tools-kit`)
    const root = await repo.resolve('1.0.0')
    const bytes = Buffer.from(await (await repo.fetch(root)).toArray().then((c) => Buffer.concat(c as Buffer[])))
    for (const tag of ['_kit_1.0.0', `sha256-${'a'.repeat(64)}`, `sha256-${'b'.repeat(64)}.sig`, '1.1.0']) await repo.pushReference(root, bytes, tag)
    const r = await runKit(['tags', `${registry.host}/sbx/zip-tools-kit`, '--json'], {env})
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(r.json, ['1.0.0', '1.1.0'])
    const range = await runKit(['pull', `${registry.host}/sbx/zip-tools-kit@^1`, '--json'], {env})
    assert.equal(range.code, 0, range.stderr)
    assert.deepEqual(range.json.storedAs, [`${registry.host}/sbx/zip-tools-kit:1.1.0`])
  })

  it('kit push warns when the tag\'s version and spec.yaml\'s version disagree (and not when they agree)', async () => {
    const kitDir = join(dir, 'versioned')
    await cp(join(sampleKitsDir, 'github'), kitDir, {recursive: true})
    const spec = await readFile(join(kitDir, 'spec.yaml'), 'utf8')
    await writeFile(join(kitDir, 'spec.yaml'), /^version:/m.test(spec) ? spec.replace(/^version:.*$/m, 'version: "1.2.3"') : spec.replace(/^name:.*$/m, (l) => `${l}\nversion: "1.2.3"`))
    const off = await runKit(['push', kitDir, `${registry.host}/team/versioned:2.0.0`], {env})
    assert.equal(off.code, 0, off.stderr)
    assert.match(off.stderr, /kit: warning: tag 2\.0\.0 does not match the kit's version 1\.2\.3/)
    const json = await runKit(['push', kitDir, `${registry.host}/team/versioned:2.0.1`, '--json'], {env})
    assert.equal(json.json.warnings.length, 1)
    for (const tag of ['1.2.3', '1.2', 'latest', 'dev']) {
      const ok = await runKit(['push', kitDir, `${registry.host}/team/versioned-ok:${tag}`, '--json'], {env})
      assert.equal(ok.code, 0, ok.stderr)
      assert.deepEqual(ok.json.warnings, [], tag)
    }
  })

  it('a v1 ZIP holding a symlink, a path with .., or no spec.yaml is not a kit (nothing is written)', async () => {
    const src = join(dir, 'bad-zip')
    await mkdir(join(src, 'files', 'home'), {recursive: true})
    await writeFile(join(src, 'spec.yaml'), V1_SPEC)
    await run('ln', ['-s', '/etc/passwd', join(src, 'files', 'home', 'passwd')])
    await run('zip', ['-q', '-r', '-X', '-y', join(dir, 'link.zip'), 'spec.yaml', 'files'], {cwd: src})
    await assert.rejects(readZipKit(await readFile(join(dir, 'link.zip')), 'link.zip'), /not a kit: its v1 ZIP layer holds files\/home\/passwd, which is not a regular file or a directory/)
    await run('python3', ['-c', 'import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], "w") as z:\n  z.writestr("spec.yaml", sys.argv[2])\n  z.writestr("files/home/../../escape", "x")\n', join(dir, 'dots.zip'), V1_SPEC])
    await assert.rejects(readZipKit(await readFile(join(dir, 'dots.zip')), 'dots.zip'), /not a kit: its v1 ZIP layer/)
    await run('zip', ['-q', '-r', '-X', join(dir, 'nospec.zip'), 'files/workspace'], {cwd: join(dir, 'zip-tools')})
    await assert.rejects(readZipKit(await readFile(join(dir, 'nospec.zip')), 'nospec.zip'), /has no spec\.yaml at its root/)
  })
})
