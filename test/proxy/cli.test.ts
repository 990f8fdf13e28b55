// The CLI as the acceptance checks use it: `kit proxy` in the foreground until SIGTERM, with a kit
// directory, flags, the test resolver and an extra upstream CA; `kit proxy ca`; the policy commands.
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {curl, httpsUpstream, readLines, removeDir, run, tempDir, testCA, type Upstream} from './fixtures.js'
import {freePort} from '../support/registry.js'

const KIT = fileURLToPath(new URL('../../../bin/kit', import.meta.url))
const SECRET = 'fixture-REAL-secret-0042'


describe('kit proxy and kit policy (CLI)', function () {
  this.timeout(120_000)
  let home: string
  let upHome: string
  let up: Upstream
  let kitDir: string
  const env = () => ({PATH: process.env.PATH, KIT_HOME: home, KIT_SECRET_STORE: 'file'})

  before(async () => {
    home = tempDir('kit-cli-home-')
    upHome = tempDir('kit-cli-upca-')
    up = await httpsUpstream(await testCA(upHome))
    kitDir = join(home, 'kit')
    mkdirSync(kitDir)
    writeFileSync(
      join(kitDir, 'spec.yaml'),
      [
        'schemaVersion: "2"',
        'kind: mixin',
        'name: fixture-api',
        'permissions:',
        '  network:',
        '    allow:',
        '      - api.fixture.example',
        'credentials:',
        '  - service: fixture',
        '    apiKey:',
        '      name: FIXTURE_API_KEY',
        '      inject:',
        '        - domain: api.fixture.example',
        '          header: x-fixture-key',
        '          format: "key=%s"',
        '',
      ].join('\n'),
    )
  })

  after(async () => {
    await up?.close()
    removeDir(home)
    removeDir(upHome)
  })

  it('runs kit proxy with a kit, flags and the test resolver until SIGTERM', async () => {
    const set = await run(process.execPath, [KIT, 'secret', 'set', 'fixture'], {env: env(), input: SECRET})
    assert.equal(set.code, 0, set.stderr)
    const port = await freePort()
    const log = join(home, 'audit.jsonl')
    const p = spawn(
      process.execPath,
      [
        KIT, 'proxy', '--listen', `127.0.0.1:${port}`, '--kit', kitDir, '--allow', 'other.fixture.example', '--deny', 'bad.fixture.example',
        '--log', log, '--connect-to', `api.fixture.example:443:127.0.0.1:${up.port}`, '--connect-to', `other.fixture.example:443:127.0.0.1:${up.port}`,
        '--upstream-ca', join(upHome, 'proxy', 'ca.pem'),
      ],
      {env: env(), stdio: ['ignore', 'pipe', 'pipe']},
    )
    let out = ''
    let err = ''
    p.stdout.on('data', (d) => (out += d))
    p.stderr.on('data', (d) => (err += d))
    const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)))
    try {
      const end = Date.now() + 60_000
      while (!out.includes('listening') && Date.now() < end && p.exitCode === null) await new Promise((r) => setTimeout(r, 50))
      assert.match(out, /kit proxy listening on http:\/\/127\.0\.0\.1:\d+/, err)
      const ca = await run(process.execPath, [KIT, 'proxy', 'ca'], {env: env()})
      const caPath = ca.stdout.trim()
      assert.equal(caPath, join(home, 'proxy', 'ca.pem'))
      const proxyUrl = `http://127.0.0.1:${port}`
      const r = await curl(proxyUrl, 'https://api.fixture.example/v1', ['--cacert', caPath, '-H', 'x-fixture-key: proxy-managed'])
      assert.equal(r.status, 200, r.stderr)
      assert.equal(up.seen.at(-1)!.headers['x-fixture-key'], `key=${SECRET}`)
      // The echo comes back with the value redacted.
      assert.equal((JSON.parse(r.body) as {headers: Record<string, string>}).headers['x-fixture-key'], 'key=proxy-managed')
      const other = await curl(proxyUrl, 'https://other.fixture.example/v1', ['--cacert', join(upHome, 'proxy', 'ca.pem')])
      assert.equal(other.status, 200)
      const bad = await curl(proxyUrl, 'http://bad.fixture.example/')
      assert.equal(bad.status, 403)
      assert.equal(bad.headers['x-kit-policy'], 'bad.fixture.example')
    } finally {
      p.kill('SIGTERM')
    }
    assert.equal(await exited, 0, err)
    const text = readFileSync(log, 'utf8')
    assert.ok(!text.includes(SECRET) && !out.includes(SECRET) && !err.includes(SECRET))
    const entries = readLines(log)
    assert.ok(entries.some((e) => e.host === 'api.fixture.example' && (e.credentials as string[] | undefined)?.[0] === 'fixture'))
    // kit policy log reads the same file.
    const pl = await run(process.execPath, [KIT, 'policy', 'log', '--file', log, '--json'], {env: env()})
    assert.equal(pl.code, 0, pl.stderr)
    assert.equal((JSON.parse(pl.stdout) as {entries: unknown[]}).entries.length, entries.length)
  })

  it('manages the local policy: init, allow, deny, ls, check', async () => {
    const k = (...args: string[]) => run(process.execPath, [KIT, ...args], {env: env()})
    assert.equal((await k('policy', 'init', 'balanced')).code, 0)
    assert.equal((await k('policy', 'allow', 'api.example.com:8443')).code, 0)
    assert.equal((await k('policy', 'deny', '**.tracker.example')).code, 0)
    const bad = await k('policy', 'allow', 'bedrock.*.amazonaws.com')
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /^kit: invalid network rule "bedrock\.\*\.amazonaws\.com": /m)
    // A kit by store reference: build it into the store first.
    assert.equal((await k('build', kitDir)).code, 0)
    const ls = JSON.parse((await k('policy', 'ls', '--json', '--kit', 'fixture-api:latest')).stdout) as {tier: string; rules: Array<{effect: string; rule: string; source: string}>}
    assert.equal(ls.tier, 'balanced')
    assert.deepEqual(ls.rules.find((r) => r.rule === '**.tracker.example'), {effect: 'deny', rule: '**.tracker.example', source: 'local'})
    assert.deepEqual(ls.rules.find((r) => r.rule === 'api.fixture.example'), {effect: 'allow', rule: 'api.fixture.example', source: 'kit fixture-api'})
    assert.ok(ls.rules.some((r) => r.source === 'tier balanced'))
    const check = JSON.parse((await k('policy', 'check', 'https://x.tracker.example/a', '--method', 'DELETE', '--json')).stdout) as Record<string, unknown>
    assert.deepEqual([check.action, check.rule, check.source, check.method], ['deny', '**.tracker.example', 'local', 'DELETE'])
  })
})
