// The registry commands end to end: bin/kit against real distribution registries, skopeo as peer.
import assert from 'node:assert/strict'
import {execFile, spawn} from 'node:child_process'
import {cp, mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {promisify} from 'node:util'
import {startRegistry, type TestRegistry} from '../support/registry.js'
import {runKit} from '../support/cli.js'

const run = promisify(execFile)
const KIT = resolve('bin/kit')
const SAMPLE = resolve('sample-kits')

interface Result {
  code: number
  stdout: string
  stderr: string
  json: any // eslint-disable-line @typescript-eslint/no-explicit-any
}

const kit = (args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<Result> => runKit(args, {env, input, cwd: process.cwd()})

describe('kit push / pull / tags / lock / login against a registry', function () {
  this.timeout(120_000)
  let registry: TestRegistry
  let dir: string
  let env: NodeJS.ProcessEnv
  let kitDir: string

  before(async () => {
    registry = await startRegistry()
    dir = await mkdtemp(join(tmpdir(), 'kit-cli-registry-'))
    env = {
      PATH: process.env.PATH,
      HOME: dir,
      KIT_HOME: join(dir, 'home'),
      DOCKER_CONFIG: join(dir, 'docker'),
      KIT_ORG_CONFIG: join(dir, 'org-config.json'),
      CI: '1',
    }
    kitDir = join(dir, 'github')
    await cp(join(SAMPLE, 'github'), kitDir, {recursive: true})
    // Pin the version this test publishes, whatever the sample kit says today.
    const spec = await readFile(join(kitDir, 'spec.yaml'), 'utf8')
    await writeFile(join(kitDir, 'spec.yaml'), /^version:/m.test(spec) ? spec.replace(/^version:.*$/m, 'version: "1.0.0"') : spec.replace(/^name:.*$/m, (l) => `${l}\nversion: "1.0.0"`))
  })
  after(async () => {
    await registry?.stop()
    await rm(dir, {recursive: true, force: true})
  })

  it('pushes a kit directory, reports tags and bytes, and a second push uploads nothing', async () => {
    const dest = `${registry.host}/team/github:1.0.0`
    const first = await kit(['push', kitDir, dest, '--json'], env)
    assert.equal(first.code, 0, first.stderr + first.stdout)
    assert.equal(first.json.reference, dest)
    assert.match(first.json.digest, /^sha256:[0-9a-f]{64}$/)
    assert.deepEqual(first.json.tags, ['1.0.0', '1.0', '1', 'latest'])
    assert.ok(first.json.bytesUploaded > 0)
    const second = await kit(['push', kitDir, dest, '--json'], env)
    assert.equal(second.code, 0, second.stderr)
    assert.equal(second.json.digest, first.json.digest)
    assert.equal(second.json.bytesUploaded, 0)
    const {stdout} = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${dest}`])
    assert.equal(`sha256:${(await import('node:crypto')).createHash('sha256').update(stdout).digest('hex')}`, first.json.digest)
  })

  it('lists tags as a JSON list', async () => {
    const r = await kit(['tags', `${registry.host}/team/github`, '--json'], env)
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(r.json, ['1', '1.0', '1.0.0', 'latest'])
  })

  it('refuses to re-point a version tag without --force', async () => {
    const other = join(dir, 'github-changed')
    await cp(kitDir, other, {recursive: true})
    await writeFile(join(other, 'files', 'home', '.kit-test-changed'), 'changed\n')
    const dest = `${registry.host}/team/github:1.0.0`
    const refused = await kit(['push', other, dest, '--quiet'], env)
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /^kit: .*github:1\.0\.0 already points at sha256:[0-9a-f]+; refusing to re-point it to sha256:[0-9a-f]+ \(use --force\)\n$/)
    const forced = await kit(['push', other, dest, '--force', '--json'], env)
    assert.equal(forced.code, 0, forced.stderr)
  })

  it('pulls by range into the local store under the full reference', async () => {
    const home = {...env, KIT_HOME: join(dir, 'home-pull')}
    const r = await kit(['pull', `${registry.host}/team/github@^1`, '--json'], home)
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.json.version, '1.0.0')
    assert.deepEqual(r.json.storedAs, [`${registry.host}/team/github:1.0.0`])
    const index = JSON.parse(await readFile(join(dir, 'home-pull', 'store', 'index.json'), 'utf8'))
    assert.equal(index.manifests[0].digest, r.json.digest)
    assert.equal(index.manifests[0].annotations['org.opencontainers.image.ref.name'], `${registry.host}/team/github:1.0.0`)
    const byDigest = await kit(['pull', `${registry.host}/team/github@${r.json.digest}`, '--json'], home)
    assert.equal(byDigest.code, 0, byDigest.stderr)
    assert.equal(byDigest.json.digest, r.json.digest)
    const missing = await kit(['pull', `${registry.host}/team/github@^7`], home)
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /no tag matches \^7/)
  })

  it('enforces kit.allowedSources on path-segment boundaries, naming the setting', async () => {
    const home = {...env, KIT_HOME: join(dir, 'home-allowed')}
    const set = await kit(['config', 'set', 'kit.allowedSources', `${registry.host}/team-approved,${registry.host}/team`, '--json'], home)
    assert.equal(set.code, 0, set.stderr)
    assert.deepEqual(set.json.value, [`${registry.host}/team-approved`, `${registry.host}/team`])
    assert.equal((await kit(['pull', `${registry.host}/team/github:1.0.0`, '--json'], home)).code, 0)
    await kit(['config', 'set', 'kit.allowedSources', `["${registry.host}/team-approved"]`], home)
    const refused = await kit(['pull', `${registry.host}/team/github:1.0.0`], home)
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /is not from an allowed source \(kit\.allowedSources: /)
  })

  it('locks a kits.yaml and pulls only what the lockfile pins with --frozen-lockfile', async () => {
    const home = {...env, KIT_HOME: join(dir, 'home-lock')}
    const project = join(dir, 'project')
    await cp(kitDir, join(project, 'unused'), {recursive: true})
    const kitsFile = join(project, 'kits.yaml')
    await writeFile(kitsFile, `kits:\n  - ${registry.host}/team/github@^1.0\n`)
    const locked = await kit(['lock', kitsFile, '--json'], home)
    assert.equal(locked.code, 0, locked.stderr)
    assert.equal(locked.json.written, true)
    const lockPath = join(project, 'kits.lock.json')
    const lock = JSON.parse(await readFile(lockPath, 'utf8'))
    const entry = lock.kits[`${registry.host}/team/github@^1.0`]
    assert.equal(entry.version, '1.0.0')
    assert.match(entry.resolved, new RegExp(`^${registry.host}/team/github@sha256:`))
    assert.match(entry.integrity, /^sha256-/)
    assert.equal((await kit(['lock', kitsFile, '--frozen-lockfile'], home)).code, 0)
    const pulled = await kit(['pull', '--frozen-lockfile', '--lockfile', lockPath, '--json'], home)
    assert.equal(pulled.code, 0, pulled.stderr)
    assert.equal(pulled.json.kits[0].resolved, entry.resolved)
    const notLocked = await kit(['pull', `${registry.host}/team/other:1`, '--frozen-lockfile', '--lockfile', lockPath], home)
    assert.equal(notLocked.code, 1)
    assert.match(notLocked.stderr, /is not in .*kits\.lock\.json and --frozen-lockfile was given/)
    await writeFile(kitsFile, `kits:\n  - ${registry.host}/team/github@^1.0\n  - ${registry.host}/team/github:1.0.0\n`)
    const frozen = await kit(['lock', kitsFile, '--frozen-lockfile'], home)
    assert.equal(frozen.code, 1)
    assert.match(frozen.stderr, /out of date .*github:1\.0\.0 \(added\)/)
  })
})

describe('kit login / logout with bearer-token auth', function () {
  this.timeout(120_000)
  let registry: TestRegistry
  let dir: string
  let env: NodeJS.ProcessEnv
  before(async () => {
    registry = await startRegistry({auth: 'token', anonymousPull: false})
    dir = await mkdtemp(join(tmpdir(), 'kit-cli-login-'))
    env = {PATH: process.env.PATH, HOME: dir, KIT_HOME: join(dir, 'home'), DOCKER_CONFIG: join(dir, 'docker'), KIT_ORG_CONFIG: join(dir, 'org.json'), CI: '1'}
  })
  after(async () => {
    await registry?.stop()
    await rm(dir, {recursive: true, force: true})
  })

  it('logs in from stdin, pushes, and fails clearly after logout', async () => {
    const kitDir = join(SAMPLE, 'github')
    const dest = `${registry.host}/team/gh:2.1.0`
    const denied = await kit(['push', kitDir, dest], env)
    assert.equal(denied.code, 1)
    assert.match(denied.stderr, /HTTP 401 .*run kit login/)
    const bad = await kit(['login', registry.host, '--username', registry.username!, '--password-stdin'], env, 'wrong\n')
    assert.equal(bad.code, 1)
    assert.doesNotMatch(bad.stderr, /wrong/)
    const login = await kit(['login', registry.host, '--username', registry.username!, '--password-stdin', '--json'], env, registry.password + '\n')
    assert.equal(login.code, 0, login.stderr)
    assert.equal((await stat(login.json.authFile)).mode & 0o777, 0o600)
    const pushed = await kit(['push', kitDir, dest, '--json'], env)
    assert.equal(pushed.code, 0, pushed.stderr)
    assert.deepEqual(pushed.json.tags, ['2.1.0', '2.1', '2', 'latest'])
    assert.equal((await kit(['logout', registry.host, '--json'], env)).json.removed, true)
    assert.equal((await kit(['tags', `${registry.host}/team/gh`], env)).code, 1)
  })

  it('takes credentials from KIT_REGISTRY_AUTH without any file', async () => {
    const ci = {...env, KIT_HOME: join(dir, 'ci-home'), KIT_REGISTRY_AUTH: `${registry.host}|${registry.username}|${registry.password}`}
    const r = await kit(['tags', `${registry.host}/team/gh`, '--json'], ci)
    assert.equal(r.code, 0, r.stderr)
    assert.ok(r.json.includes('2.1.0'))
    const pulled = await kit(['pull', `${registry.host}/team/gh:2`, '--json'], ci)
    assert.equal(pulled.code, 0, pulled.stderr)
  })
})
