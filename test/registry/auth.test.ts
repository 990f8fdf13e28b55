import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {chmod, mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {
  AuthFile,
  clearTokenCache,
  copy,
  type CredentialSource,
  defaultCredentials,
  DockerConfigCredentials,
  EnvCredentials,
  MemoryStore,
  mergeScopes,
  parseChallenges,
  ping,
  RemoteRepository,
} from '../../registry-client/index.js'
import {startFaultProxy} from '../support/fault-proxy.js'
import {startRegistry, type TestRegistry} from '../support/registry.js'
import {pushArtifact} from './helpers.js'

const run = promisify(execFile)
const fixed = (username: string, password: string): CredentialSource => ({get: async () => ({username, password})})
const none: CredentialSource = {get: async () => undefined}

describe('registry-client: WWW-Authenticate and scopes', () => {
  it('parses bearer, basic and several challenges in one header', () => {
    assert.deepEqual(parseChallenges('Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"'), [
      {scheme: 'bearer', params: {realm: 'https://auth.example/token', service: 'reg', scope: 'repository:a/b:pull,push'}},
    ])
    assert.deepEqual(parseChallenges('Basic realm="x", Bearer realm="y",error="insufficient_scope"'), [
      {scheme: 'basic', params: {realm: 'x'}},
      {scheme: 'bearer', params: {realm: 'y', error: 'insufficient_scope'}},
    ])
    assert.deepEqual(parseChallenges('Basic abc=='), [{scheme: 'basic', params: {}}])
  })

  it('merges scopes per resource', () => {
    assert.deepEqual(mergeScopes(['repository:a:pull', 'repository:a:push', 'repository:b:pull']), ['repository:a:pull,push', 'repository:b:pull'])
  })
})

describe('registry-client: TLS with a test CA and htpasswd basic auth', function () {
  this.timeout(60_000)
  let registry: TestRegistry
  let dir: string
  before(async () => {
    registry = await startRegistry({auth: 'htpasswd'})
    dir = await mkdtemp(join(tmpdir(), 'kit-auth-'))
  })
  after(async () => {
    await registry?.stop()
    await rm(dir, {recursive: true, force: true})
  })

  it('refuses an unknown CA, then works with the test CA and credentials', async () => {
    const src = new MemoryStore()
    const a = await pushArtifact(src, 'tls')
    await src.tag(a.manifest, 'v1')
    const untrusted = RemoteRepository.open(`${registry.host}/team/tls`, {credentials: fixed(registry.username!, registry.password!), retry: {retries: 0}})
    await assert.rejects(copy(src, 'v1', untrusted, '1.0.0'), /certificate|self.signed|issuer/i)
    const repo = RemoteRepository.open(`${registry.host}/team/tls`, {tls: {ca: registry.ca}, credentials: fixed(registry.username!, registry.password!)})
    const pushed = await copy(src, 'v1', repo, '1.0.0')
    assert.equal(pushed.descriptor.digest, a.manifest.digest)
    // skopeo reads it with a docker auth file and the CA directory
    const authfile = join(dir, 'skopeo-auth.json')
    await writeFile(authfile, JSON.stringify({auths: {[registry.host]: {auth: Buffer.from(`${registry.username}:${registry.password}`).toString('base64')}}}), {mode: 0o600})
    const certDir = join(dir, 'certs')
    await mkdir(certDir)
    await writeFile(join(certDir, 'ca.crt'), registry.ca!)
    const {stdout} = await run('skopeo', ['inspect', '--raw', '--authfile', authfile, '--cert-dir', certDir, `docker://${registry.host}/team/tls:1.0.0`])
    assert.equal(stdout, a.bytes.toString())
  })

  it('fails without credentials, naming the registry and how to log in', async () => {
    const repo = RemoteRepository.open(`${registry.host}/team/anon`, {tls: {ca: registry.ca}, credentials: none})
    await assert.rejects(repo.tags(), (err: Error & {status?: number; code?: string}) => {
      assert.equal(err.status, 401)
      assert.equal(err.code, 'UNAUTHORIZED')
      assert.match(err.message, new RegExp(`kit login ${registry.host.replace(/\./g, '\\.')}`))
      return true
    })
  })

  it('fails with wrong credentials without echoing them', async () => {
    const repo = RemoteRepository.open(`${registry.host}/team/wrong`, {tls: {ca: registry.ca}, credentials: fixed(registry.username!, 'not-the-password')})
    await assert.rejects(repo.tags(), (err: Error) => {
      assert.match(err.message, /HTTP 401 \(credentials rejected\)/)
      assert.doesNotMatch(err.message, /not-the-password/)
      return true
    })
  })

  it('logs in with ping(), and reads credentials from a kit auth file and docker config', async () => {
    await ping(registry.host, {tls: {ca: registry.ca}, credentials: fixed(registry.username!, registry.password!)})
    await assert.rejects(ping(registry.host, {tls: {ca: registry.ca}, credentials: fixed('x', 'y')}), {status: 401})
    const file = new AuthFile(join(dir, 'kit-home', 'auth.json'))
    await file.store(registry.host, registry.username!, registry.password!)
    assert.deepEqual(await file.get(registry.host), {username: registry.username, password: registry.password})
    await ping(registry.host, {tls: {ca: registry.ca}, credentials: defaultCredentials({authFile: file.path, env: {DOCKER_CONFIG: join(dir, 'no-docker')}})})
    assert.equal(await file.remove(registry.host), true)
    assert.equal(await file.get(registry.host), undefined)
  })
})

describe('registry-client: credential sources', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kit-creds-'))
  })
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('reads KIT_REGISTRY_AUTH=host|user|secret (secret may contain |)', async () => {
    const env = {KIT_REGISTRY_AUTH: 'a.example:5000|ci|s3|cr|et\nb.example|other|x'}
    assert.deepEqual(await new EnvCredentials(env).get('a.example:5000'), {username: 'ci', password: 's3|cr|et'})
    assert.deepEqual(await new EnvCredentials(env).get('b.example'), {username: 'other', password: 'x'})
    assert.equal(await new EnvCredentials(env).get('c.example'), undefined)
    await assert.rejects(new EnvCredentials({KIT_REGISTRY_AUTH: 'nope'}).get('x'), {code: 'INVALID_CREDENTIALS'})
  })

  it('prefers credHelpers over credsStore over auths in docker config, and maps Docker Hub', async () => {
    const bin = join(dir, 'bin')
    await run('mkdir', ['-p', bin])
    for (const name of ['kittest-helper', 'kittest-store']) {
      const script = join(bin, `docker-credential-${name}`)
      await writeFile(
        script,
        `#!/bin/sh\nread server\ncase "$server" in\n  *nothere*) echo "credentials not found in native keychain"; exit 1;;\n  *) printf '{"ServerURL":"%s","Username":"${name}","Secret":"from-${name}"}' "$server";;\nesac\n`,
      )
      await chmod(script, 0o755)
    }
    const config = join(dir, 'config.json')
    await writeFile(
      config,
      JSON.stringify({
        credHelpers: {'helped.example': 'kittest-helper'},
        credsStore: 'kittest-store',
        auths: {
          'https://index.docker.io/v1/': {auth: Buffer.from('hubuser:hubpass').toString('base64')},
          'nothere.example': {auth: Buffer.from('plain:pass').toString('base64')},
          'token.example': {identitytoken: 'refresh-me'},
        },
      }),
    )
    const env = {...process.env, PATH: `${bin}:${process.env.PATH}`}
    const creds = new DockerConfigCredentials(config, env)
    assert.deepEqual(await creds.get('helped.example'), {username: 'kittest-helper', password: 'from-kittest-helper'})
    assert.deepEqual(await creds.get('other.example'), {username: 'kittest-store', password: 'from-kittest-store'})
    assert.deepEqual(await creds.get('nothere.example'), {username: 'plain', password: 'pass'})
    const noStore = join(dir, 'config2.json')
    await writeFile(noStore, JSON.stringify({auths: {'https://index.docker.io/v1/': {auth: Buffer.from('hubuser:hubpass').toString('base64')}, 'token.example': {identitytoken: 'refresh-me'}}}))
    const plain = new DockerConfigCredentials(noStore, env)
    assert.deepEqual(await plain.get('docker.io'), {username: 'hubuser', password: 'hubpass'})
    assert.deepEqual(await plain.get('token.example'), {username: undefined, identityToken: 'refresh-me'})
  })
})

describe('registry-client: bearer token auth (distribution auth.token + a test token server)', function () {
  this.timeout(60_000)
  let registry: TestRegistry
  before(async () => {
    registry = await startRegistry({auth: 'token'})
  })
  after(async () => {
    await registry?.stop()
  })

  it('gets a push token with credentials, caches it, and pulls anonymously', async () => {
    clearTokenCache()
    const src = new MemoryStore()
    const a = await pushArtifact(src, 'bearer')
    await src.tag(a.manifest, 'v1')
    const repo = RemoteRepository.open(`${registry.host}/team/bearer`, {plainHttp: true, credentials: fixed(registry.username!, registry.password!)})
    await copy(src, 'v1', repo, '1.0.0')
    const pushTokens = registry.tokenRequests.length
    assert.ok(pushTokens >= 1 && pushTokens <= 2, `token requests for a push: ${pushTokens}`)
    assert.ok(registry.tokenRequests.every((r) => r.user === registry.username))
    assert.ok(registry.tokenRequests.some((r) => r.scope.includes('repository:team/bearer:pull,push')))
    await copy(src, 'v1', repo, '1.0.1')
    assert.equal(registry.tokenRequests.length, pushTokens, 'cached tokens reused')
    const anon = RemoteRepository.open(`${registry.host}/team/bearer`, {plainHttp: true, credentials: none})
    const back = new MemoryStore()
    const pulled = await copy(anon, '1.0.0', back, 'x')
    assert.equal(pulled.descriptor.digest, a.manifest.digest)
  })

  it('refuses an anonymous push with a clear error', async () => {
    const src = new MemoryStore()
    const a = await pushArtifact(src, 'anon-push')
    await src.tag(a.manifest, 'v1')
    const anon = RemoteRepository.open(`${registry.host}/team/nopush`, {plainHttp: true, credentials: none})
    await assert.rejects(copy(src, 'v1', anon, '1'), (err: Error & {status?: number}) => {
      assert.equal(err.status, 401)
      assert.match(err.message, /run kit login/)
      return true
    })
  })

  it('exchanges a docker identity token (OAuth2 refresh token) for access', async () => {
    clearTokenCache()
    const dir = await mkdtemp(join(tmpdir(), 'kit-idtoken-'))
    try {
      const config = join(dir, 'config.json')
      await writeFile(config, JSON.stringify({auths: {[registry.host]: {auth: '', identitytoken: registry.refreshToken}}}))
      const src = new MemoryStore()
      const a = await pushArtifact(src, 'identity')
      await src.tag(a.manifest, 'v1')
      const repo = RemoteRepository.open(`${registry.host}/team/identity`, {plainHttp: true, credentials: new DockerConfigCredentials(config, {})})
      const r = await copy(src, 'v1', repo, '1')
      assert.equal(r.descriptor.digest, a.manifest.digest)
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })

  it('does not send credentials to another origin a registry redirects to', async () => {
    clearTokenCache()
    const src = new MemoryStore()
    const a = await pushArtifact(src, 'redirected')
    await src.tag(a.manifest, 'v1')
    const creds = fixed(registry.username!, registry.password!)
    await copy(src, 'v1', RemoteRepository.open(`${registry.host}/team/redirect`, {plainHttp: true, credentials: creds}), 'v1')
    // A "blob store" on another loopback origin, holding the layer, logging what it was sent.
    const seen: Array<string | undefined> = []
    const storage = http.createServer((req, res) => {
      seen.push(req.headers.authorization)
      res.writeHead(200, {'content-type': 'application/octet-stream'}).end(Buffer.from('layer of redirected'))
    })
    await new Promise<void>((r) => storage.listen(0, '127.0.0.1', () => r()))
    const storagePort = (storage.address() as AddressInfo).port
    const proxy = await startFaultProxy(`http://${registry.host}`)
    try {
      proxy.add({method: 'GET', path: new RegExp(`/blobs/${a.layer.digest}`), action: 'redirect', to: (p) => `http://127.0.0.1:${storagePort}${p}`})
      const back = new MemoryStore()
      await copy(RemoteRepository.open(`${proxy.host}/team/redirect`, {plainHttp: true, credentials: creds}), 'v1', back, 'v1')
      assert.deepEqual(back.get(a.layer.digest), Buffer.from('layer of redirected'))
      assert.deepEqual(seen, [undefined])
      assert.ok(proxy.log.some((l) => l.startsWith('GET') && l.includes(a.layer.digest)))
    } finally {
      await proxy.stop()
      await new Promise<void>((r) => storage.close(() => r()))
    }
  })

  it('logs in by fetching a token with the credentials', async () => {
    await ping(registry.host, {plainHttp: true, credentials: fixed(registry.username!, registry.password!)})
    await assert.rejects(ping(registry.host, {plainHttp: true, credentials: fixed(registry.username!, 'wrong')}), {status: 401})
  })
})
