// Registry papercuts of issue 11, through bin/kit against a real docker-registry started here:
// tags of a missing repository, a refused push leaving the local store as it was, pull
// --frozen-lockfile against kits.yaml, pull --json byte counts, cross-repository mounts.
import assert from 'node:assert/strict'
import {spawn, type ChildProcess} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {runKit, type KitResult} from '../support/cli.js'
import {freePort, startRegistry, type TestRegistry} from '../support/registry.js'

const SAMPLE = resolve('sample-kits')

const kit = (args: string[], env: NodeJS.ProcessEnv): Promise<KitResult> => runKit(args, {env, cwd: process.cwd()})

/** reference → digest of every name in a KIT_HOME's store. */
async function storeRefs(home: string): Promise<Record<string, string>> {
  const index = JSON.parse(await readFile(join(home, 'store', 'index.json'), 'utf8').catch(() => '{"manifests":[]}')) as {
    manifests: Array<{digest: string; annotations?: Record<string, string>}>
  }
  const out: Record<string, string> = {}
  for (const m of index.manifests) {
    const name = m.annotations?.['org.opencontainers.image.ref.name']
    if (name) out[name] = m.digest
  }
  return out
}

describe('kit and the registry: issue 11 papercuts', function () {
  this.timeout(120_000)
  let registry: TestRegistry
  let dir: string
  let kitDir: string
  const envFor = (name: string): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: dir,
    KIT_HOME: join(dir, name),
    DOCKER_CONFIG: join(dir, 'docker'),
    KIT_ORG_CONFIG: join(dir, 'org-config.json'),
    CI: '1',
  })
  const manifestOf = async (repo: string, tag: string): Promise<{bytes: Buffer; json: {config: {size: number; digest: string}; layers: Array<{size: number; digest: string}>}}> => {
    const res = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {headers: {accept: 'application/vnd.oci.image.manifest.v1+json'}})
    assert.equal(res.status, 200)
    const bytes = Buffer.from(await res.arrayBuffer())
    return {bytes, json: JSON.parse(bytes.toString('utf8'))}
  }

  before(async () => {
    registry = await startRegistry()
    dir = await mkdtemp(join(tmpdir(), 'kit-issue11-registry-'))
    kitDir = join(dir, 'github')
    await cp(join(SAMPLE, 'github'), kitDir, {recursive: true})
    const spec = await readFile(join(kitDir, 'spec.yaml'), 'utf8')
    await writeFile(join(kitDir, 'spec.yaml'), spec.replace(/^version:.*$/m, 'version: "1.0.0"'))
    await writeFile(join(kitDir, 'files', 'home', '.kit-issue11'), 'x'.repeat(64 * 1024) + '\n')
  })
  after(async () => {
    await registry?.stop()
    await rm(dir, {recursive: true, force: true})
  })

  it('kit tags on a missing repository is one error line naming it, exit 1', async () => {
    const missing = `${registry.host}/team/no-such-kit`
    const r = await kit(['tags', missing], envFor('home-tags'))
    assert.equal(r.code, 1)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /^kit: 127\.0\.0\.1:\d+\/team\/no-such-kit: no such repository on the registry\n$/)
    const json = await kit(['tags', missing, '--json'], envFor('home-tags'))
    assert.equal(json.code, 1)
    assert.match(JSON.stringify(json.json ?? json.stderr), /no-such-kit/)
  })

  it('a push refused with TAG_EXISTS leaves the local store as it was', async () => {
    const env = envFor('home-refused')
    const dest = `${registry.host}/team/refused:1.0.0`
    const first = await kit(['push', kitDir, dest, '--json'], env)
    assert.equal(first.code, 0, first.stderr)
    const before = await storeRefs(env.KIT_HOME!)
    assert.ok(Object.values(before).includes(first.json.digest))
    const other = join(dir, 'github-other')
    await cp(kitDir, other, {recursive: true})
    await writeFile(join(other, 'files', 'home', '.kit-issue11-changed'), 'changed\n')
    const refused = await kit(['push', other, dest, '--quiet'], env)
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /already points at .*refusing to re-point/)
    assert.deepEqual(await storeRefs(env.KIT_HOME!), before)
    // A store that never had the name does not keep it either.
    const fresh = envFor('home-refused-fresh')
    const again = await kit(['push', other, dest, '--quiet'], fresh)
    assert.equal(again.code, 1)
    assert.deepEqual(await storeRefs(fresh.KIT_HOME!), {})
  })

  it('pull --json reports bytes downloaded and blobs skipped', async () => {
    const pushed = await kit(['push', kitDir, `${registry.host}/team/counted:1.0.0`, '--json'], envFor('home-counted-push'))
    assert.equal(pushed.code, 0, pushed.stderr)
    const {bytes, json: manifest} = await manifestOf('team/counted', '1.0.0')
    const blobs = manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0)
    const env = envFor('home-counted-pull')
    const first = await kit(['pull', `${registry.host}/team/counted:1.0.0`, '--json'], env)
    assert.equal(first.code, 0, first.stderr)
    assert.equal(first.json.bytesDownloaded, blobs + bytes.length)
    assert.equal(first.json.blobsSkipped, 0)
    const second = await kit(['pull', `${registry.host}/team/counted:1.0.0`, '--json'], env)
    assert.equal(second.code, 0, second.stderr)
    assert.equal(second.json.bytesDownloaded, 0)
    assert.ok(second.json.blobsSkipped >= 1)
  })

  it('pull --frozen-lockfile fails, naming them, when kits.yaml has entries the lockfile lacks', async () => {
    const env = envFor('home-frozen')
    assert.equal((await kit(['push', kitDir, `${registry.host}/team/frozen:1.0.0`, '--json'], env)).code, 0)
    const project = join(dir, 'project-frozen')
    await mkdir(project, {recursive: true})
    const kitsFile = join(project, 'kits.yaml')
    await writeFile(kitsFile, `kits:\n  - ${registry.host}/team/frozen@^1\n`)
    const locked = await kit(['lock', kitsFile, '--json'], env)
    assert.equal(locked.code, 0, locked.stderr)
    const lockPath = join(project, 'kits.lock.json')
    const pullEnv = envFor('home-frozen-pull')
    const ok = await kit(['pull', '--frozen-lockfile', '--lockfile', lockPath, '--json'], pullEnv)
    assert.equal(ok.code, 0, ok.stderr)
    assert.ok(ok.json.kits[0].bytesDownloaded > 0)
    await writeFile(kitsFile, `kits:\n  - ${registry.host}/team/frozen@^1\n  - ${registry.host}/team/frozen:1.0.0\n  - ${registry.host}/team/other:2\n`)
    const stale = envFor('home-frozen-stale')
    const refused = await kit(['pull', '--frozen-lockfile', '--lockfile', lockPath], stale)
    assert.equal(refused.code, 1)
    const line = `${lockPath} lacks 2 entries of ${kitsFile} and --frozen-lockfile was given: ${registry.host}/team/frozen:1.0.0, ${registry.host}/team/other:2 (run kit lock)`
    assert.equal(refused.stderr, `kit: ${line}\n`)
    assert.deepEqual(await storeRefs(stale.KIT_HOME!), {})
  })

  it('a push to another repository of the same registry mounts the blobs it has there', async () => {
    const env = envFor('home-mount')
    const a = await kit(['push', kitDir, `${registry.host}/team/mount-a:1.0.0`, '--json'], env)
    assert.equal(a.code, 0, a.stderr)
    const {bytes, json: manifest} = await manifestOf('team/mount-a', '1.0.0')
    const blobs = manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0)
    assert.ok(a.json.bytesUploaded >= blobs)
    // Same kit, another repository: only the manifest goes up (once per tag), blobs are mounted.
    const b = await kit(['push', kitDir, `${registry.host}/team/mount-b:1.0.0`], env)
    assert.equal(b.code, 0, b.stderr)
    for (const l of manifest.layers) assert.match(b.stderr, new RegExp(`${l.digest.slice(7, 19)}.* mounted from team/mount-a`))
    const c = await kit(['push', kitDir, `${registry.host}/team/mount-c:1.0.0`, '--json'], env)
    assert.equal(c.code, 0, c.stderr)
    assert.equal(c.json.bytesUploaded, bytes.length * c.json.tags.length)
    for (const l of manifest.layers) {
      const head = await fetch(`${registry.url}/v2/team/mount-c/blobs/${l.digest}`, {method: 'HEAD'})
      assert.equal(head.status, 200)
    }
    // The repository the record names lost the blobs: the registry answers the mount with 202
    // and the push uploads them.
    for (const repo of ['mount-a', 'mount-b', 'mount-c']) {
      for (const d of [manifest.config, ...manifest.layers]) {
        await rm(join(registry.root, 'docker/registry/v2/repositories/team', repo, '_layers/sha256', d.digest.slice(7)), {recursive: true, force: true})
      }
    }
    const d = await kit(['push', kitDir, `${registry.host}/team/mount-d:1.0.0`, '--json'], env)
    assert.equal(d.code, 0, d.stderr)
    assert.equal(d.json.bytesUploaded, blobs + bytes.length * d.json.tags.length)
  })
  it('kit inspect REMOTE-REF reads the manifest and config on the registry and stores nothing', async () => {
    const pusher = envFor('home-inspect-push')
    const dest = `${registry.host}/team/inspected:1.0.0`
    const pushed = await kit(['push', kitDir, dest, '--json'], pusher)
    assert.equal(pushed.code, 0, pushed.stderr)
    const local = await kit(['inspect', 'github:1.0.0', '--json'], pusher)
    assert.equal(local.code, 0, local.stderr)
    assert.equal(local.json.source, 'store')
    const env = envFor('home-inspect')
    const remote = await kit(['inspect', dest, '--json'], env)
    assert.equal(remote.code, 0, remote.stderr)
    assert.equal(remote.json.source, 'registry')
    assert.equal(remote.json.reference, dest)
    assert.equal(remote.json.files, undefined)
    for (const k of ['digest', 'size', 'mediaType', 'artifactType', 'format', 'schemaVersion', 'manifest', 'annotations', 'config', 'layer', 'spec']) {
      assert.deepEqual(remote.json[k], local.json[k], k)
    }
    const human = await kit(['inspect', `${registry.host}/team/inspected@^1`], env)
    assert.equal(human.code, 0, human.stderr)
    assert.match(human.stdout, /^Source: +registry \(not pulled\)\nReference: +/)
    assert.match(human.stdout, new RegExp(`Digest: +${pushed.json.digest}`))
    assert.match(human.stdout, /Spec \(normalised\):/)
    assert.deepEqual(await storeRefs(env.KIT_HOME!), {})
    const blobs = await readdir(join(env.KIT_HOME!, 'store', 'blobs', 'sha256')).catch(() => [])
    assert.deepEqual(blobs, [])
    // The local store's name wins; --remote reads the registry even then.
    const pulled = await kit(['pull', dest, '--json'], env)
    assert.equal(pulled.code, 0, pulled.stderr)
    assert.equal((await kit(['inspect', dest, '--json'], env)).json.source, 'store')
    assert.equal((await kit(['inspect', dest, '--remote', '--json'], env)).json.source, 'registry')
    const missing = await kit(['inspect', `${registry.host}/team/inspected:9.9.9`], envFor('home-inspect-missing'))
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /^kit: .*team\/inspected:9\.9\.9.*\n$/)
  })
})

describe('cross-repository mounts with bearer-token auth', function () {
  this.timeout(120_000)
  let registry: TestRegistry
  let dir: string
  before(async () => {
    registry = await startRegistry({auth: 'token', anonymousPull: false})
    dir = await mkdtemp(join(tmpdir(), 'kit-issue11-mount-token-'))
  })
  after(async () => {
    await registry?.stop()
    await rm(dir, {recursive: true, force: true})
  })

  it('asks for pull on the source repository and mounts from it', async () => {
    const env = {
      PATH: process.env.PATH, HOME: dir, KIT_HOME: join(dir, 'home'), DOCKER_CONFIG: join(dir, 'docker'), KIT_ORG_CONFIG: join(dir, 'org.json'), CI: '1',
      KIT_REGISTRY_AUTH: `${registry.host}|${registry.username}|${registry.password}`,
    }
    const kitDir = join(SAMPLE, 'github')
    const a = await kit(['push', kitDir, `${registry.host}/team/tok-a:4.0.0`, '--json'], env)
    assert.equal(a.code, 0, a.stderr)
    const b = await kit(['push', kitDir, `${registry.host}/team/tok-b:4.0.0`], env)
    assert.equal(b.code, 0, b.stderr)
    assert.match(b.stderr, /mounted from team\/tok-a/)
    assert.ok(registry.tokenRequests.some((r) => r.scope.includes('repository:team/tok-a:pull') && r.scope.some((s) => s.startsWith('repository:team/tok-b:'))))
  })
})

describe('registry traffic through HTTP_PROXY / HTTPS_PROXY, bypassed by NO_PROXY', function () {
  this.timeout(120_000)
  let plain: TestRegistry
  let tls: TestRegistry
  let dir: string
  let proxy: ChildProcess
  let proxyUrl: string
  let log: string
  let authProxy: ChildProcess
  let authProxyUrl: string
  let authLog: string
  let proxyPassword: string
  const proxied = async (): Promise<string> => readFile(log, 'utf8').catch(() => '')

  before(async () => {
    plain = await startRegistry()
    tls = await startRegistry({tls: true})
    dir = await mkdtemp(join(tmpdir(), 'kit-issue11-proxy-'))
    // tinyproxy on loopback, logging every request it forwards.
    const port = await freePort()
    log = join(dir, 'tinyproxy.log')
    const conf = join(dir, 'tinyproxy.conf')
    await writeFile(conf, [`Port ${port}`, 'Listen 127.0.0.1', 'Timeout 60', `LogFile "${log}"`, 'LogLevel Info', 'MaxClients 50', 'Allow 127.0.0.1', ''].join('\n'))
    proxy = spawn('tinyproxy', ['-d', '-c', conf], {stdio: 'ignore'})
    proxyUrl = `http://127.0.0.1:${port}`
    // A second one that wants credentials (BasicAuth), random per run.
    const authPort = await freePort()
    authLog = join(dir, 'tinyproxy-auth.log')
    proxyPassword = randomBytes(9).toString('hex')
    await writeFile(join(dir, 'auth.conf'), [`Port ${authPort}`, 'Listen 127.0.0.1', 'Timeout 60', `LogFile "${authLog}"`, 'LogLevel Info', 'MaxClients 50', 'Allow 127.0.0.1', `BasicAuth kit ${proxyPassword}`, ''].join('\n'))
    authProxy = spawn('tinyproxy', ['-d', '-c', join(dir, 'auth.conf')], {stdio: 'ignore'})
    authProxyUrl = `http://kit:${proxyPassword}@127.0.0.1:${authPort}`
    for (let i = 0; i < 100 && !/listening|Starting main loop/i.test(await proxied()); i++) await new Promise((r) => setTimeout(r, 50))
    for (let i = 0; i < 100 && !/listening|Starting main loop/i.test(await readFile(authLog, 'utf8').catch(() => '')); i++) await new Promise((r) => setTimeout(r, 50))
  })
  after(async () => {
    for (const p of [proxy, authProxy]) {
      if (p && p.exitCode === null) {
        const exited = new Promise((r) => p.once('exit', r))
        p.kill('SIGTERM')
        await exited
      }
    }
    await plain?.stop()
    await tls?.stop()
    await rm(dir, {recursive: true, force: true})
  })

  const env = (extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: dir,
    KIT_HOME: join(dir, 'home'),
    DOCKER_CONFIG: join(dir, 'docker'),
    KIT_ORG_CONFIG: join(dir, 'org-config.json'),
    CI: '1',
    ...extra,
  })

  it('pushes and pulls a plain-HTTP registry through HTTP_PROXY (absolute-form requests)', async () => {
    const kitDir = join(SAMPLE, 'github')
    const dest = `${plain.host}/team/proxied:3.0.0`
    const pushed = await kit(['push', kitDir, dest, '--json'], env({HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl}))
    assert.equal(pushed.code, 0, pushed.stderr)
    const pulled = await kit(['pull', dest, '--json'], env({http_proxy: proxyUrl, KIT_HOME: join(dir, 'home-pull')}))
    assert.equal(pulled.code, 0, pulled.stderr)
    const text = await proxied()
    assert.match(text, new RegExp(`PUT http://${plain.host}/v2/team/proxied/manifests/3\\.0\\.0`))
    assert.match(text, new RegExp(`GET http://${plain.host}/v2/team/proxied/blobs/sha256:`))
  })

  it('tunnels a TLS registry through HTTPS_PROXY with CONNECT', async () => {
    const before = (await proxied()).split(`CONNECT ${tls.host}`).length
    const r = await kit(['tags', `${tls.host}/team/none`, '--ca-file', tls.caFile!], env({HTTPS_PROXY: proxyUrl}))
    // The repository does not exist: the registry's answer came back through the tunnel.
    assert.equal(r.code, 1)
    assert.match(r.stderr, /team\/none: no such repository on the registry/)
    assert.ok((await proxied()).split(`CONNECT ${tls.host}`).length > before)
  })

  it('sends the credentials of the proxy URL as Proxy-Authorization, for http and for CONNECT', async () => {
    const plainTags = await kit(['tags', `${plain.host}/team/proxied`, '--json'], env({HTTP_PROXY: authProxyUrl}))
    assert.equal(plainTags.code, 0, plainTags.stderr)
    assert.deepEqual(plainTags.json, ['3', '3.0', '3.0.0', 'latest'])
    const tlsTags = await kit(['tags', `${tls.host}/team/none`, '--ca-file', tls.caFile!], env({HTTPS_PROXY: authProxyUrl}))
    assert.match(tlsTags.stderr, /team\/none: no such repository on the registry/)
    const text = await readFile(authLog, 'utf8')
    assert.match(text, new RegExp(`GET http://${plain.host}/v2/team/proxied/tags/list`))
    assert.match(text, new RegExp(`CONNECT ${tls.host}`))
    // Without them the proxy says 407, and kit's error does not show the proxy's password either way.
    const refused = await kit(['tags', `${plain.host}/team/proxied`], env({HTTP_PROXY: authProxyUrl.replace(/kit:[0-9a-f]+@/, '')}))
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /407/)
    for (const r of [plainTags, tlsTags, refused]) assert.ok(!(r.stdout + r.stderr).includes(proxyPassword))
  })

  it('goes direct to the hosts NO_PROXY names', async () => {
    const count = async (host: string) => (await proxied()).split(host).length
    const plainBefore = await count(plain.host)
    const tlsBefore = await count(tls.host)
    const direct = await kit(['tags', `${plain.host}/team/proxied`, '--json'], env({HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl, NO_PROXY: `localhost,127.0.0.1`}))
    assert.equal(direct.code, 0, direct.stderr)
    assert.deepEqual(direct.json, ['3', '3.0', '3.0.0', 'latest'])
    const byPort = await kit(['tags', `${tls.host}/team/none`, '--ca-file', tls.caFile!], env({HTTPS_PROXY: proxyUrl, no_proxy: `example.invalid, ${tls.host}`}))
    assert.equal(byPort.code, 1)
    assert.match(byPort.stderr, /no such repository/)
    assert.equal(await count(plain.host), plainBefore)
    assert.equal(await count(tls.host), tlsBefore)
  })
})

describe('proxyFor / NO_PROXY matching', () => {
  it('picks HTTPS_PROXY for https (HTTP_PROXY when unset), lower case first, and honours NO_PROXY forms', async () => {
    const {bypassesProxy, proxyFor} = await import('../../registry-client/http.js')
    const u = (s: string) => new URL(s)
    assert.equal(proxyFor(u('https://r.example.com/v2/'), {HTTPS_PROXY: 'http://127.0.0.1:3128'})?.href, 'http://127.0.0.1:3128/')
    assert.equal(proxyFor(u('https://r.example.com/v2/'), {HTTP_PROXY: '127.0.0.1:3128'})?.href, 'http://127.0.0.1:3128/')
    assert.equal(proxyFor(u('http://r.example.com/v2/'), {HTTPS_PROXY: 'http://127.0.0.1:3128'}), undefined)
    assert.equal(proxyFor(u('http://r.example.com/v2/'), {http_proxy: 'http://127.0.0.1:1', HTTP_PROXY: 'http://127.0.0.1:2'})?.port, '1')
    assert.equal(proxyFor(u('https://r.example.com/v2/'), {HTTPS_PROXY: 'http://127.0.0.1:3128', NO_PROXY: 'example.com'}), undefined)
    assert.throws(() => proxyFor(u('https://r.example.com/'), {HTTPS_PROXY: 'socks5://u:secret@127.0.0.1:1080'}), (err: Error) => !err.message.includes('secret') && /only http:\/\//.test(err.message))
    assert.equal(bypassesProxy(u('https://a.example.com/'), 'example.com'), true)
    assert.equal(bypassesProxy(u('https://notexample.com/'), 'example.com'), false)
    assert.equal(bypassesProxy(u('https://example.com/'), '.example.com'), false)
    assert.equal(bypassesProxy(u('https://a.example.com/'), '*.example.com'), true)
    assert.equal(bypassesProxy(u('http://127.0.0.1:5000/'), '127.0.0.1:5001'), false)
    assert.equal(bypassesProxy(u('http://127.0.0.1:5000/'), 'localhost, 127.0.0.1:5000'), true)
    assert.equal(bypassesProxy(u('https://[::1]:5000/'), '[::1]'), true)
    assert.equal(bypassesProxy(u('https://anything/'), '*'), true)
    assert.equal(bypassesProxy(u('https://anything/'), ''), false)
  })
})
