// The 403's hint works on a running proxy: `kit policy allow` (and `deny`) through the CLI apply to a
// running `kit proxy` without a restart, the audit log names the rules that changed, and a policy
// file that does not parse keeps the policy the proxy had.
import assert from 'node:assert/strict'
import {spawn, type ChildProcessWithoutNullStreams} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {curl, httpUpstream, readLines, removeDir, run, tempDir, type Upstream} from '../proxy/fixtures.js'
import {diffRules} from '../../runtime/proxy/live-policy.js'
import {freePort} from '../support/registry.js'

const KIT = fileURLToPath(new URL('../../../bin/kit', import.meta.url))
const HOST = 'live.fixture.example'


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('live reload of the policy of a running kit proxy', function () {
  this.timeout(120_000)
  let home: string
  let up: Upstream
  let proxy: ChildProcessWithoutNullStreams | undefined
  let out = ''
  let err = ''
  let proxyUrl = ''
  let log = ''
  const env = () => ({PATH: process.env.PATH, KIT_HOME: home, KIT_SECRET_STORE: 'file'})
  const kit = (...args: string[]) => run(process.execPath, [KIT, ...args], {env: env()})
  const get = () => curl(proxyUrl, `http://${HOST}/v1/thing`)
  /** Poll until the proxy answers `status` (the reload is asynchronous): a wait, not a timing check. */
  async function until(status: number): Promise<Awaited<ReturnType<typeof get>>> {
    const end = Date.now() + 10_000
    let r = await get()
    while (r.status !== status && Date.now() < end) {
      await sleep(100)
      r = await get()
    }
    return r
  }

  before(async () => {
    home = tempDir('kit-live-home-')
    up = await httpUpstream()
    const port = await freePort()
    log = join(home, 'audit.jsonl')
    proxy = spawn(process.execPath, [KIT, 'proxy', '--listen', `127.0.0.1:${port}`, '--log', log, '--connect-to', `${HOST}:80:127.0.0.1:${up.port}`], {
      env: env(),
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    proxy.stdout.on('data', (d) => (out += d))
    proxy.stderr.on('data', (d) => (err += d))
    const end = Date.now() + 60_000
    while (!out.includes('listening') && Date.now() < end && proxy.exitCode === null) await sleep(50)
    assert.match(out, /kit proxy listening on http:\/\/127\.0\.0\.1:\d+/, err)
    proxyUrl = `http://127.0.0.1:${port}`
  })

  after(async () => {
    if (proxy && proxy.exitCode === null) {
      const exited = new Promise((r) => proxy!.on('exit', r))
      proxy.kill('SIGTERM')
      await exited
    }
    await up?.close()
    removeDir(home)
  })

  it('follows the 403 hint: kit policy allow lets the next request through, deny blocks it again', async () => {
    const blocked = await get()
    assert.equal(blocked.status, 403)
    const hint = (JSON.parse(blocked.body) as {hint: string}).hint
    const m = /^allow it with: kit policy allow '([^']+)'$/.exec(hint)
    assert.ok(m, hint)
    assert.equal(m[1], HOST)

    const allow = await kit('policy', 'allow', m[1]!)
    assert.equal(allow.code, 0, allow.stderr)
    const passed = await until(200)
    assert.equal(passed.status, 200, passed.body)
    assert.equal(up.seen.at(-1)?.url, '/v1/thing')

    const deny = await kit('policy', 'deny', HOST)
    assert.equal(deny.code, 0, deny.stderr)
    const again = await until(403)
    assert.equal(again.status, 403)
    assert.equal(again.headers['x-kit-policy'], HOST)

    const reloads = readLines(log).filter((e) => e.kind === 'policy')
    assert.deepEqual(
      reloads.map((e) => ({decision: e.decision, added: e.added, removed: e.removed})),
      [
        {decision: 'reload', added: [`allow ${HOST} (local)`], removed: []},
        {decision: 'reload', added: [`deny ${HOST} (local)`], removed: []},
      ],
    )
    // kit policy log shows the reload as a line of its own.
    const pl = await kit('policy', 'log', '--file', log)
    assert.equal(pl.code, 0, pl.stderr)
    assert.match(pl.stdout, new RegExp(`POLICY reloaded added: deny ${HOST.replace(/\./g, '\\.')} \\(local\\) removed: -`))
  })

  it('keeps the previous policy when the file does not parse, and says so once', async () => {
    const before = readLines(log).length
    writeFileSync(join(home, 'policy.json'), '{"tier": "deny-all", "allow": [')
    const end = Date.now() + 10_000
    while (!err.includes('keeping the previous policy') && Date.now() < end) await sleep(100)
    assert.match(err, /kit: policy reload: .*policy\.json: not JSON: .*; keeping the previous policy/)
    // Still the policy from before: the deny holds, no reload record.
    const r = await get()
    assert.equal(r.status, 403)
    assert.equal(r.headers['x-kit-policy'], HOST)
    assert.equal(readLines(log).slice(before).filter((e) => e.kind === 'policy').length, 0)

    // A good file again: the deny goes, the allow stays.
    writeFileSync(join(home, 'policy.json'), JSON.stringify({version: 1, tier: 'deny-all', allow: [HOST], deny: []}))
    assert.equal((await until(200)).status, 200)
    const last = readLines(log).filter((e) => e.kind === 'policy').at(-1)
    assert.deepEqual(last?.removed, [`deny ${HOST} (local)`])
    assert.deepEqual(last?.added, [])
  })

  it('diffRules counts rules by effect, text and source', () => {
    const r = (effect: 'allow' | 'deny', rule: string, source = 'local') => ({effect, rule, source})
    assert.deepEqual(diffRules([r('allow', 'a.example'), r('deny', 'b.example')], [r('allow', 'a.example'), r('allow', 'b.example'), r('allow', 'a.example', 'kit x')]), {
      added: ['allow b.example (local)', 'allow a.example (kit x)'],
      removed: ['deny b.example (local)'],
    })
  })
})
