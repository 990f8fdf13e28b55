// git clone over HTTPS through the proxy, from a real `git http-backend` (CGI under a node HTTPS
// server standing in for github.com), with the credential injected by the proxy as HTTP Basic.
// git itself holds no credential: without injection the server answers 401 and the clone fails.
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import https from 'node:https'
import {join} from 'node:path'
import {Policy} from '../../runtime/policy/policy.js'
import {startProxy, type RunningProxy} from '../../runtime/proxy/server.js'
import {removeDir, run, tempDir, testCA, type Upstream} from './fixtures.js'
import {gitHttpBackend} from '../support/git-http.js'

// A throw-away value made at test time: no secret, fake or not, is committed in clear.
const TOKEN = 'ghs_' + randomBytes(18).toString('hex')
const EXPECTED = 'Basic ' + Buffer.from(`x-access-token:${TOKEN}`).toString('base64')


describe('policy proxy: git clone through it with basic-auth injection', function () {
  this.timeout(60_000)
  let home: string
  let upHome: string
  let work: string
  let server: Upstream
  let proxy: RunningProxy
  const authSeen: string[] = []

  before(async () => {
    home = tempDir('kit-git-home-')
    upHome = tempDir('kit-git-upca-')
    work = tempDir('kit-git-work-')
    const ca = await testCA(upHome)
    // A bare repository with one commit.
    const repos = join(work, 'repos')
    mkdirSync(join(repos, 'org'), {recursive: true})
    const src = join(work, 'src')
    const env = {...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com', GIT_CONFIG_NOSYSTEM: '1', HOME: work}
    const git = async (...args: string[]) => {
      const r = await run('git', args, {env})
      assert.equal(r.code, 0, `git ${args.join(' ')}: ${r.stderr}`)
    }
    await git('init', '-q', '-b', 'main', src)
    writeFileSync(join(src, 'README.md'), 'through the proxy\n')
    await git('-C', src, 'add', '.')
    await git('-C', src, 'commit', '-q', '-m', 'one')
    await git('clone', '-q', '--bare', src, join(repos, 'org', 'repo.git'))

    const s = https.createServer({SNICallback: (n, cb) => ca.contextFor(n).then((c) => cb(null, c), (e: Error) => cb(e, undefined))}, gitHttpBackend(repos, authSeen, () => EXPECTED))
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
    const port = (s.address() as {port: number}).port
    server = {port, seen: [], close: () => new Promise((r) => s.close(() => r()))}

    proxy = await startProxy({
      policy: new Policy({layers: [{source: 'kit github', allow: ['github.com', '*.github.com']}]}),
      credentials: [{service: 'github', envName: 'GITHUB_TOKEN', inject: [{domain: 'github.com', scheme: 'basic', username: 'x-access-token'}]}],
      secrets: {get: async (name) => (name === 'github' ? TOKEN : undefined)},
      connectTo: [`github.com:443:127.0.0.1:${port}`],
      upstreamCAs: [ca.certPem],
      auditLogPath: join(home, 'audit.jsonl'),
      env: {KIT_HOME: home},
    })
  })

  after(async () => {
    await proxy?.stop()
    await server?.close()
    removeDir(home)
    removeDir(upHome)
    removeDir(work)
  })

  it('clones https://github.com/org/repo.git with the token injected, git holding none', async () => {
    const dest = join(work, 'clone')
    const env = {PATH: process.env.PATH, HOME: work, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0'}
    const r = await run('git', ['-c', `http.proxy=${proxy.url}`, '-c', `http.sslCAInfo=${proxy.caCertPath}`, 'clone', '-q', 'https://github.com/org/repo.git', dest], {env})
    assert.equal(r.code, 0, r.stderr)
    assert.equal(readFileSync(join(dest, 'README.md'), 'utf8'), 'through the proxy\n')
    assert.ok(authSeen.length >= 2 && authSeen.every((a) => a === EXPECTED))
    // The clone's config holds no credential.
    assert.ok(!readFileSync(join(dest, '.git', 'config'), 'utf8').includes(TOKEN))
    const log = readFileSync(join(home, 'audit.jsonl'), 'utf8')
    assert.ok(!log.includes(TOKEN) && !log.includes(EXPECTED.slice(6)))
    assert.match(log, /"credentials":\["github"\]/)
  })

  it('fails without the proxy (the server wants the credential git does not have)', async () => {
    const dest = join(work, 'clone2')
    const env = {PATH: process.env.PATH, HOME: work, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0'}
    const upCa = join(upHome, 'proxy', 'ca.pem')
    const r = await run('git', ['-c', `http.sslCAInfo=${upCa}`, '-c', 'http.proxy=', 'clone', '-q', `https://127.0.0.1:${server.port}/org/repo.git`, dest], {env})
    assert.notEqual(r.code, 0)
  })
})
