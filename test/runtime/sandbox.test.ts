// The sandbox lifecycle without a VM: kits resolved from directories and from the store
// (materialised once per digest, loaded by the same loader), kit args from flags and a file,
// composition conflicts reported, layers written with args substituted and exec bits kept, the
// guest plan, the workspace refusals, the recorded state, and egress figures from an audit log.
import assert from 'node:assert/strict'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {homedir, tmpdir} from 'node:os'
import {join} from 'node:path'
import {spawnSync} from 'node:child_process'
import {buildKit} from '../../kit-compiler/build.js'
import {copy} from '../../registry-client/copy.js'
import {parseReference} from '../../registry-client/reference.js'
import {RemoteRepository} from '../../registry-client/remote.js'
import {importRootfsTarball} from '../../runtime/image/import.js'
import {ensureImage} from '../../runtime/image/resolve.js'
import {startRegistry, type TestRegistry} from '../support/registry.js'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {writeKitLayers} from '../../runtime/sandbox/layers.js'
import {buildPlan} from '../../runtime/sandbox/plan.js'
import {composeSources, locateKit, readKitArgs, relocateKit, snapshotKit} from '../../runtime/sandbox/resolve.js'
import {checkWorkspace, parseMemory, prepareSandbox} from '../../runtime/sandbox/run.js'
import {listSandboxes, removeSandbox, writeDefinition, writeState, stopSandbox} from '../../runtime/sandbox/state.js'
import {egressStats, formatEgress} from '../../runtime/sandbox/stats.js'
import {cleanupKits, makeKit} from '../support/kit-dir.js'
import {sampleKitsDir} from '../support/paths.js'

const AGENT = `schemaVersion: "2"
kind: sandbox
name: test-agent
sandbox:
  image: localhost/test-agent:1
  entrypoint: [bash, -l]
  command:
    default: [-c, "echo ready"]
    interactive: []
agentInstructions:
  filename: CLAUDE.md
  content: "# Agent\\n"
credentials:
  - service: anthropic
    apiKey:
      name: ANTHROPIC_API_KEY
      inject:
        - domain: api.anthropic.com
          header: x-api-key
          format: "%s"
permissions:
  network:
    allow: [api.anthropic.com]
environment:
  variables:
    MODE: agent
`

const MIXIN = `schemaVersion: "2"
kind: mixin
name: tools
args:
  greeting:
    default: hello
agentInstructions:
  content: "## Tools\\n"
environment:
  variables:
    MODE: tools
    GREETING: "\${{ kit.args.greeting }}"
setup:
  install:
    - command: echo install
  startup:
    - command: [sh, -c, "echo start"]
      background: true
  files:
    - path: /home/agent/.toolrc
      content: "dir=\${WORKDIR}\\n"
      mode: "0600"
`

describe('runtime/sandbox: resolution, layers, plan, state', function () {
  let home: string
  let env: NodeJS.ProcessEnv
  let store: OciLayoutStore
  let agentDir: string
  let mixinDir: string
  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'kit-rt-sandbox-'))
    env = {...process.env, KIT_HOME: home}
    store = await OciLayoutStore.open(join(home, 'store'))
    agentDir = makeKit(AGENT)
    mixinDir = makeKit(MIXIN, {
      'files/home/.local/bin/hello': {content: '#!/bin/sh\necho "${{ kit.args.greeting }}"\n', mode: 0o755},
      'files/workspace/.toolconf': 'plain\n',
    })
  })
  after(() => {
    cleanupKits()
    rmSync(home, {recursive: true, force: true})
  })

  it('resolves a directory, and a store reference materialised once as a kit directory', async () => {
    const d = await locateKit(mixinDir, {store, env})
    assert.equal(d.source, 'dir')
    const built = await buildKit(mixinDir, {store, tag: 'tools:1.0.0'})
    const s = await locateKit('tools:1.0.0', {store, env})
    assert.equal(s.source, 'store')
    assert.equal(s.digest, built.digest)
    assert.equal(readFileSync(join(s.dir, 'spec.yaml'), 'utf8'), MIXIN, 'spec.yaml is the config blob, byte for byte')
    assert.equal(statSync(join(s.dir, 'files/home/.local/bin/hello')).mode & 0o777, 0o755)
    assert.equal(readFileSync(join(s.dir, 'files/workspace/.toolconf'), 'utf8'), 'plain\n')
    const again = await locateKit(`tools@${built.digest}`, {store, env})
    assert.equal(again.dir, s.dir)
    // both load to the same model
    const a = await composeSources([await locateKit(agentDir, {store, env}), d], {})
    const b = await composeSources([await locateKit(agentDir, {store, env}), s], {})
    assert.deepEqual(b.sandbox.environment, a.sandbox.environment)
    assert.deepEqual(b.kits[1]!.kit.files.map((f) => [f.path, f.mode]), a.kits[1]!.kit.files.map((f) => [f.path, f.mode]))
    await assert.rejects(locateKit('nothing-here:1', {store, env}), (e: Error & {code?: string}) => e.code === 'KIT_NOT_FOUND')
    await assert.rejects(locateKit('./no/such/dir', {store, env}), /no such directory/)
  })

  it('reads kit args from a file and flags (flags win; scoped form), substitutes them, reports conflicts', async () => {
    const file = join(home, 'args.yaml')
    writeFileSync(file, 'args:\n  greeting: from-file\n  tools:\n    greeting: scoped-file\n')
    assert.deepEqual(await readKitArgs([], file), {greeting: 'from-file', 'tools.greeting': 'scoped-file'})
    const args = await readKitArgs(['tools.greeting=bonjour'], file)
    const c = await composeSources([await locateKit(agentDir, {store, env}), await locateKit(mixinDir, {store, env})], args)
    assert.equal(c.sandbox.environment.GREETING, 'bonjour')
    assert.deepEqual(c.conflicts.map((x) => [x.kind, x.key]), [['env-override', 'MODE']])
    await assert.rejects(readKitArgs(['novalue']), /NAME=VALUE/)

    const layers = await writeKitLayers(c.kits.map((k) => k.kit), join(home, 'layers'))
    assert.deepEqual(layers.map((l) => l.kit), ['test-agent', 'tools'])
    const hello = join(layers[1]!.dir, 'home/agent/.local/bin/hello')
    assert.equal(readFileSync(hello, 'utf8'), '#!/bin/sh\necho "bonjour"\n')
    assert.equal(statSync(hello).mode & 0o777, 0o755)
    assert.equal(readFileSync(join(layers[1]!.dir, 'workspace/.toolconf'), 'utf8'), 'plain\n')
  })

  it('builds the guest plan: kit order, memory in the home, command, placeholders only for bound secrets', async () => {
    const c = await composeSources([await locateKit(agentDir, {store, env}), await locateKit(mixinDir, {store, env})], {})
    const unbound = buildPlan({sandbox: c.sandbox, imageEnv: ['PATH=/x', 'HOME=/nope', 'LANG=C.UTF-8']})
    assert.deepEqual(unbound.command, ['bash', '-l', '-c', 'echo ready'])
    assert.equal(unbound.env.ANTHROPIC_API_KEY, undefined, 'no placeholder without a bound secret')
    assert.equal(unbound.env.HOME, undefined)
    assert.equal(unbound.env.LANG, 'C.UTF-8')
    assert.equal(unbound.env.MODE, 'tools')
    assert.deepEqual(unbound.plan.install.map((i) => i.command), ['echo install'])
    assert.deepEqual(unbound.plan.startup, [{command: ['sh', '-c', 'echo start'], background: true}])
    assert.deepEqual(unbound.plan.files.map((f) => [f.path, f.mode, f.content]), [['/home/agent/.toolrc', '0600', 'dir=${WORKDIR}\n']])
    assert.deepEqual(unbound.plan.memory?.map((m) => m.path), ['/home/agent/CLAUDE.md', '/home/agent/kits-memory/tools.md'])
    assert.match(unbound.plan.memory![0]!.content, /^# Agent\n[\s\S]*<!-- sbx:kits-section start -->\n## Kits\n\n- tools: see kits-memory\/tools.md\n<!-- sbx:kits-section end -->\n$/)
    const bound = buildPlan({sandbox: c.sandbox, command: ['git', 'status'], placeholders: {ANTHROPIC_API_KEY: 'proxy-managed'}})
    assert.deepEqual(bound.command, ['git', 'status'])
    assert.equal(bound.env.ANTHROPIC_API_KEY, 'proxy-managed')
    assert.deepEqual(buildPlan({sandbox: c.sandbox, interactive: true}).command, ['bash', '-l'])
  })

  it('composes the sample kits and refuses two agents', async () => {
    const kits = ['shell-agent', 'shellcheck', 'github'].map((k) => join(sampleKitsDir, k))
    const c = await composeSources(await Promise.all(kits.map((k) => locateKit(k, {store, env}))), {})
    assert.equal(c.sandbox.agent.image, 'localhost/kit-shell-agent:bookworm')
    assert.deepEqual(c.sandbox.kits.map((k) => k.name), ['shell-agent', 'shellcheck', 'github'])
    await assert.rejects(composeSources([await locateKit(agentDir, {store, env}), await locateKit(kits[0]!, {store, env})], {}), /two sandbox \(agent\) kits/)
  })

  it('refuses / and the home directory as the workspace, and parses memory sizes', async () => {
    await assert.rejects(checkWorkspace('/', env), (e: Error & {code?: string}) => e.code === 'WORKSPACE' && /refusing \//.test(e.message))
    await assert.rejects(checkWorkspace(homedir(), env), /refusing/)
    await assert.rejects(checkWorkspace(join(home, 'nope'), env), /not a directory/)
    const ws = join(home, 'ws')
    mkdirSync(ws, {recursive: true})
    assert.equal(await checkWorkspace(ws, env), ws)
    assert.equal(parseMemory('2g'), 2048)
    assert.equal(parseMemory('1536m'), 1536)
    assert.equal(parseMemory('1024'), 1024)
    assert.throws(() => parseMemory('lots'), /expected a size/)
  })

  it('records a sandbox: a new one needs --workspace, a restart reuses kits by digest and args', async () => {
    const ws = join(home, 'ws2')
    mkdirSync(ws, {recursive: true})
    await buildKit(mixinDir, {store, tag: 'tools:1.0.0'})
    await assert.rejects(prepareSandbox({agent: agentDir, env}), /--workspace/)
    const p = await prepareSandbox({agent: agentDir, kits: ['tools:1.0.0'], workspace: ws, name: 'demo', kitArgs: ['greeting=hi'], env, memory: '1g'})
    assert.equal(p.def.name, 'demo')
    assert.equal(p.def.kits[1]!.source, 'store')
    assert.match(p.def.kits[1]!.digest ?? '', /^sha256:/)
    assert.equal(p.def.config.memoryMiB, 1024)
    await writeDefinition(p.def, env)
    await assert.rejects(prepareSandbox({agent: agentDir, workspace: ws, name: 'demo', env}), (e: Error & {code?: string}) => e.code === 'SANDBOX_EXISTS')
    const again = await prepareSandbox({name: 'demo', env})
    assert.deepEqual(again.def.kits.map((k) => k.digest), p.def.kits.map((k) => k.digest))
    assert.equal(again.composition.sandbox.environment.GREETING, 'hi')
    assert.equal(again.def.config.workspace, ws)
    await assert.rejects(prepareSandbox({name: 'demo', kits: ['x'], env}), /keeps its kit set/)
    await assert.rejects(prepareSandbox({name: 'absent', env}), (e: Error & {code?: string}) => e.code === 'SANDBOX_NOT_FOUND')

    // a "running" sandbox whose owner process is gone is listed as dead; stop and rm clean up
    await writeState('demo', {state: 'running', pid: 2 ** 22 + 12345, startedAt: new Date().toISOString()}, env)
    const listed = await listSandboxes(env)
    assert.deepEqual(listed.map((s) => [s.name, s.state, s.driver, s.kits.length]), [['demo', 'dead', 'qemu', 2]])
    assert.equal((await stopSandbox('demo', {env})).wasRunning, false)
    assert.equal((await listSandboxes(env))[0]!.state, 'stopped')
    await removeSandbox('demo', {env})
    assert.equal(existsSync(join(home, 'sandboxes', 'demo')), false)
    assert.deepEqual(await listSandboxes(env), [])
  })

  it('keeps a directory kit with the sandbox: a restart loads the snapshot, not the edited directory', async () => {
    const dir = makeKit(MIXIN, {'files/home/.local/bin/hello': {content: '#!/bin/sh\necho hi\n', mode: 0o755}})
    const src = await locateKit(dir, {store, env})
    const [loaded] = (await composeSources([await locateKit(agentDir, {store, env}), src], {})).kits.slice(1)
    const snap = join(home, 'snap')
    const digest = await snapshotKit(loaded!.kit, snap)
    assert.match(digest, /^sha256:[0-9a-f]{64}$/)
    assert.equal(await snapshotKit(loaded!.kit, join(home, 'snap2')), digest, 'the content digest is stable')
    writeFileSync(join(dir, 'spec.yaml'), MIXIN.replace('MODE: tools', 'MODE: edited'))
    const again = await relocateKit({...src, snapshot: snap, contentDigest: digest}, {store, env})
    assert.equal(again.dir, snap)
    const c = await composeSources([await locateKit(agentDir, {store, env}), again], {})
    assert.equal(c.sandbox.environment.MODE, 'tools')
    assert.equal(statSync(join(snap, 'files/home/.local/bin/hello')).mode & 0o777, 0o755)
  })

  it('sums egress figures from an audit log', () => {
    const lines = [
      {time: 't', kind: 'connect', host: 'api.anthropic.com', port: 443, decision: 'allow', bytesUp: 100, bytesDown: 2000, durationMs: 1},
      {time: 't', kind: 'request', method: 'GET', host: 'evil.example', port: 80, path: '/', decision: 'deny', rule: 'default deny', status: 403, bytesUp: 0, bytesDown: 0, durationMs: 0},
      {time: 't', kind: 'request', method: 'POST', host: 'api.anthropic.com', port: 443, path: '/v1/messages', decision: 'allow', status: 200, bytesUp: 50, bytesDown: 70, durationMs: 1, credentials: ['anthropic']},
    ].map((e) => JSON.stringify(e))
    const s = egressStats([...lines, 'not json', ''])
    assert.deepEqual([s.requests, s.allowed, s.blocked, s.bytesUp, s.bytesDown], [3, 2, 1, 150, 2070])
    assert.deepEqual(s.hosts.map((h) => [h.host, h.requests, h.blocked]), [['api.anthropic.com', 2, 0], ['evil.example', 1, 1]])
    assert.match(formatEgress(JSON.parse(lines[1]!)), /DENY  GET evil.example\/ 403 rule="default deny"/)
  })
})

describe('runtime/sandbox: kits and images from a registry', function () {
  this.timeout(60_000)
  let registry: TestRegistry
  let home: string
  let env: NodeJS.ProcessEnv
  let digest: string
  let imageDigest: string
  before(async function () {
    if (spawnSync('sh', ['-c', 'command -v docker-registry']).status !== 0) {
      console.log('      (skipped: docker-registry is not installed)')
      this.skip()
    }
    registry = await startRegistry()
    home = mkdtempSync(join(tmpdir(), 'kit-rt-registry-'))
    env = {...process.env, KIT_HOME: join(home, 'client')}
    const publisher = await OciLayoutStore.open(join(home, 'publisher'))
    const dir = makeKit(MIXIN)
    digest = (await buildKit(dir, {store: publisher, tag: 'tools:1.2.0'})).digest
    await copy(publisher, 'tools:1.2.0', new RemoteRepository(parseReference(`${registry.host}/team/tools`)), '1.2.0')
    const tarball = join(home, 'rootfs.tar')
    writeFileSync(tarball, 'x') // replaced below
    const {default: tar} = await import('tar-stream')
    const pack = tar.pack()
    const chunks: Buffer[] = []
    pack.on('data', (c: unknown) => {
      chunks.push(c as Buffer)
    })
    const ended = new Promise<void>((r) => pack.on('end', () => r()))
    pack.entry({name: 'usr/', type: 'directory'})
    pack.entry({name: 'usr/hello', mode: 0o644}, 'from the registry\n')
    pack.finalize()
    await ended
    writeFileSync(tarball, Buffer.concat(chunks))
    imageDigest = (await importRootfsTarball(publisher, tarball, 'agent-image:1', {env: {...process.env, KIT_HOME: join(home, 'pub-home')}})).manifest.digest
    await copy(publisher, 'agent-image:1', new RemoteRepository(parseReference(`${registry.host}/team/agent`)), '1')
  })
  after(async () => {
    cleanupKits()
    await registry?.stop()
    if (home) rmSync(home, {recursive: true, force: true})
  })

  it('pulls a kit by tag or semver range into the store and loads it like a directory', async () => {
    const store = await OciLayoutStore.open(join(env.KIT_HOME!, 'store'))
    const byTag = await locateKit(`${registry.host}/team/tools:1.2.0`, {store, env})
    assert.equal(byTag.source, 'registry')
    assert.equal(byTag.digest, digest)
    assert.equal(readFileSync(join(byTag.dir, 'spec.yaml'), 'utf8'), MIXIN)
    const byRange = await locateKit(`${registry.host}/team/tools@^1`, {store, env})
    assert.equal(byRange.digest, digest)
    assert.equal(byRange.dir, byTag.dir, 'materialised once per digest')
    // now in the local store under its full name: no registry needed
    const local = await locateKit(`${registry.host}/team/tools:1.2.0`, {store, env})
    assert.equal(local.source, 'store')
    await assert.rejects(locateKit(`${registry.host}/team/tools:1.2.0-nope`, {store, env}))
    await assert.rejects(
      locateKit(`${registry.host}/other/tools:1.2.0`, {store, env, allowedSources: [`${registry.host}/team`]}),
      (e: Error & {code?: string}) => e.code === 'SOURCE_NOT_ALLOWED',
    )
  })

  it('pulls an agent image from a registry into the store and unpacks it', async () => {
    const store = await OciLayoutStore.open(join(env.KIT_HOME!, 'store'))
    const ref = `${registry.host}/team/agent:1`
    const got = await ensureImage(store, ref, {env})
    assert.equal(got.image.source, 'registry')
    assert.equal(got.image.manifest.digest, imageDigest)
    assert.equal(readFileSync(join(got.rootfs.dir, 'usr/hello'), 'utf8'), 'from the registry\n')
    const again = await ensureImage(store, ref, {env, offline: true})
    assert.equal(again.image.source, 'store')
    assert.equal(again.rootfs.unpacked, false)
  })
})
