// Schema v3 build, store, inspect and registry round trip:
// - a declaration-only mixin builds natively into an OCI image with the descriptor annotation and
//   one staged-sources layer, reproducibly (same input, same digest; created only from
//   SOURCE_DATE_EPOCH), with build args expanded;
// - a kit with a Dockerfile recipe builds through the local Docker engine (skipped with the reason
//   where none answers), a mixin keeping only its delta over the base, a workload getting derived
//   deb/ provides; reproducible too; a clear one-line error where no engine answers;
// - kit inspect --json shows schemaVersion, kind, capabilities, args, layers;
// - push to and pull from a real registry (docker-registry on loopback) keep the digest.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {cp, mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {gunzipSync} from 'node:zlib'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {buildV3} from '../../kit-compiler/v3/build.js'
import {derivedDebProvides} from '../../kit-compiler/v3/publish.js'
import {runKit} from '../support/cli.js'
import {testEngine} from '../support/docker.js'
import {repoRoot} from '../support/paths.js'
import {startRegistry, type TestRegistry} from '../support/registry.js'

const run = promisify(execFile)
const examples = join(repoRoot, 'test', 'fixtures', 'v3', 'examples')

function tarNames(gz: Buffer): string[] {
  const tar = gunzipSync(gz)
  const names: string[] = []
  for (let off = 0; off + 512 <= tar.length; ) {
    const name = tar.subarray(off, off + 100).toString('utf8').replace(/\0.*$/s, '')
    if (!name) break
    const size = parseInt(tar.subarray(off + 124, off + 136).toString('utf8').replace(/\0.*$/s, '').trim() || '0', 8)
    names.push(name)
    off += 512 + Math.ceil(size / 512) * 512
  }
  return names
}

describe('v3 build: declaration-only mixins (native)', function () {
  this.timeout(120_000)
  let dir: string
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'kit-v3-build-'))))
  after(async () => rm(dir, {recursive: true, force: true}))

  it('is an OCI image with the descriptor annotation and one staged-sources layer', async () => {
    const store = await OciLayoutStore.open(join(dir, 'a'))
    const r = await buildV3(join(examples, 'gh'), {store, tag: 'gh:2.98.0'})
    assert.equal(r.builtWith, 'descriptor-only')
    assert.equal(r.layers.length, 1)
    const manifest = JSON.parse((await store.fetchBytes(r.descriptor)).toString())
    assert.equal(manifest.artifactType, undefined)
    assert.equal(manifest.config.mediaType, 'application/vnd.oci.image.config.v1+json')
    const a = manifest.annotations
    assert.equal(a['vnd.docker.sandbox.kit.schema-version'], '3')
    assert.equal(a['vnd.docker.sandbox.kit.capabilities'], 'com.docker.sandbox/agent-context@1,com.docker.sandbox/credential@1,com.docker.sandbox/network-policy@1')
    assert.equal(a['org.opencontainers.image.created'], undefined, 'no created without SOURCE_DATE_EPOCH: never the wall clock')
    const d = JSON.parse(a['vnd.docker.sandbox.kit.descriptor'])
    assert.deepEqual(d.provides, ['gh@2.98.0'], 'the build-phase arg is expanded')
    assert.equal(d.capabilities[2].config.contentFile, '/usr/share/sandbox/kit/gh/context/gh-context.md')
    const layer = await store.fetchBytes(manifest.layers[0], 1 << 20)
    assert.ok(tarNames(layer).includes('usr/share/sandbox/kit/gh/kit.yaml'))
    assert.ok(tarNames(layer).includes('usr/share/sandbox/kit/gh/context/gh-context.md'))
    const config = JSON.parse((await store.fetchBytes(manifest.config)).toString())
    assert.equal(config.created, undefined)
    assert.equal(config.rootfs.diff_ids.length, 1)
  })

  it('is reproducible: the same input gives the same digest in another store, another copy, another time', async () => {
    const copy = join(dir, 'gh-copy')
    await cp(join(examples, 'gh'), copy, {recursive: true})
    await run('touch', ['-d', '2001-01-01', join(copy, 'gh.yaml'), join(copy, 'gh-context.md')])
    const one = await buildV3(join(examples, 'gh'), {store: await OciLayoutStore.open(join(dir, 'r1')), tag: 'gh:1'})
    // the directory name does not matter; the stem does (gh.yaml)
    const two = await buildV3(copy, {store: await OciLayoutStore.open(join(dir, 'r2')), tag: 'gh:1'})
    assert.equal(one.digest, two.digest)
    const dated = await buildV3(copy, {store: await OciLayoutStore.open(join(dir, 'r3')), tag: 'gh:1', sourceDateEpoch: 1700000000})
    const again = await buildV3(copy, {store: await OciLayoutStore.open(join(dir, 'r4')), tag: 'gh:1', sourceDateEpoch: 1700000000})
    assert.equal(dated.digest, again.digest)
    assert.notEqual(dated.digest, one.digest)
    const m = JSON.parse((await (await OciLayoutStore.open(join(dir, 'r3'))).fetchBytes(dated.descriptor)).toString())
    assert.equal(m.annotations['org.opencontainers.image.created'], '2023-11-14T22:13:20Z')
  })

  it('a --build-arg value is checked against the arg and expanded', async () => {
    const store = await OciLayoutStore.open(join(dir, 'args'))
    const r = await buildV3(join(examples, 'gh'), {store, tag: 'gh:3', buildArgs: {version: '3.0.1'}})
    const m = JSON.parse((await store.fetchBytes(r.descriptor)).toString())
    assert.deepEqual(JSON.parse(m.annotations['vnd.docker.sandbox.kit.descriptor']).provides, ['gh@3.0.1'])
    assert.equal(m.annotations['org.opencontainers.image.version'], '3.0.1')
    await assert.rejects(buildV3(join(examples, 'gh'), {store, tag: 'gh:4', buildArgs: {version: 'latest'}}), /does not match/)
    await assert.rejects(buildV3(join(examples, 'gh'), {store, tag: 'gh:4', buildArgs: {nope: '1'}}), /declares no arg "nope"/)
  })

  it('refuses a workload without content and a set (not built yet), naming the file', async () => {
    const store = await OciLayoutStore.open(join(dir, 'refuse'))
    await assert.rejects(buildV3(join(examples, 'shell'), {store, tag: 's:1'}), /shell\.yaml: a kind: workload kit must have content/)
    await assert.rejects(buildV3(join(examples, 'claude-acp-set'), {store, tag: 's:1'}), /kind: set is published by resolving/)
  })

  it('kit build --json prints the digest; kit inspect --json shows schemaVersion, kind, capabilities, args, layers; kit ls lists it', async () => {
    const env = {...process.env, KIT_HOME: join(dir, 'cli-home')}
    const b = await runKit(['build', join(examples, 'gh'), '--tag', 'gh:2.98.0', '--json'], {env})
    assert.equal(b.code, 0, b.stderr)
    assert.match(b.json.digest, /^sha256:[0-9a-f]{64}$/)
    const i = await runKit(['inspect', 'gh:2.98.0', '--json'], {env})
    assert.equal(i.code, 0, i.stderr)
    assert.equal(i.json.digest, b.json.digest)
    assert.equal(i.json.schemaVersion, '3')
    assert.equal(i.json.kind, 'mixin')
    assert.deepEqual(i.json.provides, ['gh@2.98.0'])
    assert.deepEqual(i.json.capabilities.map((c: {type: string; optional: boolean}) => [c.type, c.optional]), [
      ['com.docker.sandbox/network-policy@1', false], ['com.docker.sandbox/credential@1', true], ['com.docker.sandbox/agent-context@1', false],
    ])
    assert.deepEqual(i.json.args.map((a: {name: string; phase: string}) => [a.name, a.phase]), [['version', 'build']])
    assert.equal(i.json.layers.length, 1)
    const human = await runKit(['inspect', 'gh:2.98.0'], {env})
    assert.match(human.stdout, /com\.docker\.sandbox\/credential@1\s+optional/)
    const ls = await runKit(['ls', '--json'], {env})
    assert.ok(JSON.stringify(ls.json).includes('"kind":"mixin"'), ls.stdout)
  })

  it('an invalid kit is refused by kit build with file:line:col and nothing built', async () => {
    const env = {...process.env, KIT_HOME: join(dir, 'cli-bad')}
    const b = await runKit(['build', join(repoRoot, 'test', 'fixtures', 'v3', 'invalid', 'inject-domain-not-allowed'), '--tag', 'x:1'], {env})
    assert.equal(b.code, 1)
    assert.match(b.stderr, /inject-domain-not-allowed\.yaml:14:21: inject domain api\.github\.com is not in the runtime allow list/)
  })

  it('derives deb/ provides from a dpkg status database (§9.6)', () => {
    const status = [
      'Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2',
      'Package: removed\nStatus: deinstall ok config-files\nVersion: 1.0-1',
      'Package: openssl\nStatus: install ok installed\nVersion: 1:3.5.1.9a-3+dhi1',
      'Package: candidate\nStatus: install ok installed\nVersion: 2.0~rc1-1',
      'Package: bind9\nStatus: install ok installed\nVersion: 9.20.26-1~deb13u1',
      'Package: libstdc++6\nStatus: install ok installed\nVersion: 14.2.0-19',
      'Package: binutils\nStatus: install ok installed\nVersion: 2.44-3',
    ].join('\n\n')
    assert.deepEqual(derivedDebProvides(status), ['deb/bash@5.2.15', 'deb/bind9@9.20.26', 'deb/binutils@2.44', 'deb/libstdc++6@14.2.0', 'deb/openssl@3.5.1'])
  })
})

describe('v3 build: Dockerfile recipes through the Docker engine', function () {
  this.timeout(300_000)
  let env: NodeJS.ProcessEnv
  let dir: string
  const base = 'kit-v3-test-base:1'
  before(async function () {
    const engine = await testEngine()
    if (engine.skip) {
      console.log(`      skipped: ${engine.skip}`)
      this.skip()
    }
    env = {...process.env, ...engine.env}
    dir = await mkdtemp(join(tmpdir(), 'kit-v3-engine-'))
    // A tiny base image made here (docker import of a tar): no registry, no network.
    const root = join(dir, 'base-root')
    await mkdir(join(root, 'etc'), {recursive: true})
    await mkdir(join(root, 'var', 'lib', 'dpkg'), {recursive: true})
    await writeFile(join(root, 'etc', 'os-release'), 'ID=kit-test\n')
    await writeFile(join(root, 'var', 'lib', 'dpkg', 'status'), 'Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n\nPackage: libc6\nStatus: install ok installed\nVersion: 2.36-9\n')
    await run('tar', ['-C', root, '-cf', join(dir, 'base.tar'), '.'])
    await run('docker', ['import', join(dir, 'base.tar'), base], {env})
    const tool = join(dir, 'tool')
    await mkdir(tool)
    await writeFile(join(tool, 'hello.txt'), 'hello\n')
    await writeFile(join(tool, 'tool.yaml'), '# syntax=docker/sandbox-kit:3\nschemaVersion: "3"\nkind: mixin\nversion: "1.0.0"\nprovides: [tool]\nrequires: [deb/bash]\n')
    await writeFile(join(tool, 'tool.dockerfile'), `FROM ${base}\nCOPY hello.txt /opt/tool/hello.txt\nENV TOOL_HOME=/opt/tool\n`)
    const wl = join(dir, 'wl')
    await mkdir(wl)
    await writeFile(join(wl, 'Dockerfile'), `# syntax=docker/sandbox-kit:3\n# kit:\n#   schemaVersion: "3"\n#   kind: workload\n#   version: "1.0.0"\n# syntax=docker/dockerfile:1\nFROM ${base}\nCMD ["/bin/sh"]\n`)
  })
  after(async () => {
    if (!dir) return
    await run('docker', ['rmi', '-f', base], {env}).catch(() => undefined)
    await rm(dir, {recursive: true, force: true})
  })

  it('a mixin: only its delta over the base, its stated env, the staged sources last; reproducible', async () => {
    const store = await OciLayoutStore.open(join(dir, 's1'))
    const r = await buildV3(join(dir, 'tool'), {store, tag: 'tool:1', engineEnv: env})
    assert.equal(r.builtWith, 'engine')
    assert.equal(r.layers.length, 2, 'COPY layer + staged sources (the base layer is not the mixin\'s)')
    const m = JSON.parse((await store.fetchBytes(r.descriptor)).toString())
    assert.deepEqual(tarNames(await store.fetchBytes(m.layers[0], 1 << 20)).filter((n) => !n.endsWith('/')), ['opt/tool/hello.txt'])
    assert.ok(tarNames(await store.fetchBytes(m.layers[1], 1 << 20)).includes('usr/share/sandbox/kit/tool/kit.dockerfile'))
    const config = JSON.parse((await store.fetchBytes(m.config)).toString())
    assert.ok(config.config.Env.includes('TOOL_HOME=/opt/tool'))
    const again = await buildV3(join(dir, 'tool'), {store: await OciLayoutStore.open(join(dir, 's2')), tag: 'tool:1', engineEnv: env})
    assert.equal(again.digest, r.digest)
  })

  it('a workload from a # kit: comment Dockerfile: its root filesystem, its config, derived deb/ provides', async () => {
    const store = await OciLayoutStore.open(join(dir, 's3'))
    const r = await buildV3(join(dir, 'wl'), {store, tag: 'wl:1', engineEnv: env})
    const m = JSON.parse((await store.fetchBytes(r.descriptor)).toString())
    assert.deepEqual(JSON.parse(m.annotations['vnd.docker.sandbox.kit.descriptor']).provides, ['deb/bash@5.2.15', 'deb/libc6@2.36'])
    const config = JSON.parse((await store.fetchBytes(m.config)).toString())
    assert.deepEqual(config.config.Cmd, ['/bin/sh'])
    assert.ok(tarNames(await store.fetchBytes(m.layers[0], 1 << 20)).map((n) => n.replace(/^\.\//, '')).includes('etc/os-release'))
  })

  it('no engine: one clear line naming the kit file', async () => {
    const store = await OciLayoutStore.open(join(dir, 's4'))
    await assert.rejects(buildV3(join(dir, 'tool'), {store, tag: 'tool:1', engineEnv: {DOCKER_HOST: `unix://${join(dir, 'no.sock')}`}}),
      (e: Error) => /tool\.yaml: this kit has a Dockerfile recipe, which kit builds through a Docker engine, and none answers/.test(e.message) && !e.message.includes('\n'))
  })
})

describe('v3 push and pull through a real registry', function () {
  this.timeout(120_000)
  let registry: TestRegistry
  let dir: string
  before(async () => {
    registry = await startRegistry()
    dir = await mkdtemp(join(tmpdir(), 'kit-v3-registry-'))
  })
  after(async () => {
    await registry?.stop()
    await rm(dir, {recursive: true, force: true})
  })

  it('pushes a v3 kit directory and pulls it into another store with the same digest; inspect reads it there', async () => {
    const base = {PATH: process.env.PATH, HOME: dir, DOCKER_CONFIG: join(dir, 'docker'), KIT_ORG_CONFIG: join(dir, 'org.json'), CI: '1'}
    const dest = `${registry.host}/kits/gh:2.98.0`
    const pushed = await runKit(['push', join(examples, 'gh'), dest, '--json'], {env: {...base, KIT_HOME: join(dir, 'a')}})
    assert.equal(pushed.code, 0, pushed.stderr)
    const built = await runKit(['build', join(examples, 'gh'), '--tag', 'gh:2.98.0', '--json'], {env: {...base, KIT_HOME: join(dir, 'a')}})
    // The registry serves the manifest byte for byte: one GET, the descriptor in its annotations.
    const res = await fetch(`${registry.url}/v2/kits/gh/manifests/2.98.0`, {headers: {accept: 'application/vnd.oci.image.manifest.v1+json'}})
    assert.equal(res.headers.get('docker-content-digest'), built.json.digest)
    assert.ok(((await res.json()) as {annotations: Record<string, string>}).annotations['vnd.docker.sandbox.kit.descriptor'])
    const pulled = await runKit(['pull', dest, '--json'], {env: {...base, KIT_HOME: join(dir, 'b')}})
    assert.equal(pulled.code, 0, pulled.stderr)
    assert.equal(pulled.json.digest, built.json.digest)
    const inspected = await runKit(['inspect', dest, '--json'], {env: {...base, KIT_HOME: join(dir, 'b')}})
    assert.equal(inspected.code, 0, inspected.stderr)
    assert.equal(inspected.json.schemaVersion, '3')
    assert.equal(inspected.json.kind, 'mixin')
    assert.equal(inspected.json.capabilities.length, 3)
    const index = JSON.parse(await readFile(join(dir, 'b', 'store', 'index.json'), 'utf8'))
    assert.ok(JSON.stringify(index).includes(built.json.digest))
  })
})
