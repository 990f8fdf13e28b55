// The proxy's promises seen from inside a real VM: the sample agent (uid 1000 in the guest) attacks
// its sandbox's proxy with curl and bash /dev/tcp raw sockets, against local fake upstreams that
// echo what they are sent (mapped to loopback by the proxy's test resolver). One boot, many checks;
// the same script then runs in a docker sandbox (--driver docker) when an engine is available.
// Breaks 2 (the secret echoed back), 3 (plain tunnel host check) and 4 (upgrades) of issue 10.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {chownSync, mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {testCA} from '../proxy/fixtures.js'
import {runKit} from '../support/cli.js'
import {testEngine} from '../support/docker.js'
import {parseSay} from '../support/guest-conformance.js'
import {sampleKitsDir} from '../support/paths.js'
import {importSampleImage, sampleAgentSkipReason} from '../support/upstreams.js'
import {shareAccelVerdict, vmTestAssets, type VmTestAssets} from '../vm/support.js'
import {echoEverywhere, serve, type Recorded} from './echo-upstream.js'

// Runs as the agent. `raw` speaks to the proxy over bash's /dev/tcp; answers are one line each.
const AGENT_SCRIPT = String.raw`
set +e
say() { printf '%s=%s\n' "$1" "$2"; }
hp="${'$'}{http_proxy:-$HTTP_PROXY}"; hp="${'$'}{hp#http://}"; hp="${'$'}{hp%/}"
PH="${'$'}{hp%:*}"; PP="${'$'}{hp##*:}"
raw() { exec 3<>"/dev/tcp/$PH/$PP" || return; printf "$1" >&3; timeout 4 cat <&3 | tr -d '\r' | tr '\n' '|'; exec 3>&-; }
say env_anthropic "$ANTHROPIC_API_KEY"
say echo_header "$(curl -sS -m 30 -D - -o /dev/null https://api.anthropic.com/echo-header -H "x-api-key: $ANTHROPIC_API_KEY" 2>&1 | tr -d '\r' | grep -i '^x-echo')"
say echo_body "$(curl -sS -m 30 https://api.anthropic.com/echo -H "x-api-key: $ANTHROPIC_API_KEY" 2>&1)"
say echo_split "$(curl -sS -m 30 https://api.anthropic.com/echo-split -H "x-api-key: $ANTHROPIC_API_KEY" 2>&1)"
say echo_gzip "$(curl -sS -m 30 --compressed https://api.anthropic.com/echo-gzip -H "x-api-key: $ANTHROPIC_API_KEY" 2>&1)"
say echo_raw_gzip_len "$(curl -sS -m 30 -H 'Accept-Encoding: gzip' https://api.anthropic.com/echo-gzip -H "x-api-key: $ANTHROPIC_API_KEY" 2>/dev/null | gzip -dc 2>/dev/null | grep -c proxy-managed)"
say tunnel_crlf "$(raw 'CONNECT allowed.example.com:80 HTTP/1.1\r\nHost: allowed.example.com:80\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: evil.example.com\r\nConnection: close\r\n\r\n')"
say tunnel_lower "$(raw 'CONNECT allowed.example.com:80 HTTP/1.1\r\nHost: allowed.example.com:80\r\n\r\nget / HTTP/1.1\r\nHost: evil.example.com\r\nConnection: close\r\n\r\n')"
say tunnel_pipelined "$(raw 'CONNECT allowed.example.com:80 HTTP/1.1\r\nHost: allowed.example.com:80\r\n\r\nGET /one HTTP/1.1\r\nHost: allowed.example.com\r\n\r\nGET /two HTTP/1.1\r\nHost: evil.example.com\r\nConnection: close\r\n\r\n')"
say upgrade_other "$(raw 'GET http://l7.example.com/api/x HTTP/1.1\r\nHost: l7.example.com\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\nDELETE /api/x HTTP/1.1\r\nHost: l7.example.com\r\n\r\n')"
say upgrade_h2c "$(raw 'GET http://l7.example.com/api/h2c HTTP/1.1\r\nHost: l7.example.com\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nConnection: Upgrade, HTTP2-Settings, close\r\n\r\n')"
say upgrade_ws "$(raw 'GET http://l7.example.com/ws HTTP/1.1\r\nHost: l7.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n' | head -c 12)"
exit 0
`

interface Sandbox {
  /** Why it cannot run here, or undefined. */
  skip?: string
  env: NodeJS.ProcessEnv
  /** Where this run keeps its files (removed after). */
  base: string
  driverArgs: string[]
  done(): void
}

/** The same attacks from inside a sandbox of either driver. */
function attackSuite(title: string, prepare: () => Promise<Sandbox>): void {
  describe(title, function () {
    this.timeout(900_000)
    let box: Sandbox | undefined
    let env: NodeJS.ProcessEnv
    let base: string
    const out: Record<string, string> = {}
    const seen: Recorded[] = []
    const afterUpgrade: Buffer[] = []
    let plainSeen: Recorded[] = []
    let stderr = ''
    let code: number | null = null
    const key = `sk-ant-guesttest-${Date.now().toString(36)}-not-a-real-key`
    const closers: Array<() => Promise<void>> = []

    before(async function () {
      box = await prepare()
      if (box.skip) {
        console.log(`      (skipped: ${box.skip})`)
        this.skip()
      }
      base = join(box.base, 'sec-guest')
      mkdirSync(base, {recursive: true})
      env = {...box.env, KIT_SECRET_STORE: 'file', DBUS_SESSION_BUS_ADDRESS: ''}
      importSampleImage(env)
      const ca = await testCA(join(base, 'upstream-ca'))
      const e = echoEverywhere(seen, afterUpgrade)
      const hs = https.createServer({SNICallback: (n, cb) => ca.contextFor(n).then((c) => cb(null, c), (err: Error) => cb(err, undefined))}, e.handler)
      hs.on('upgrade', e.upgrade)
      const tlsUp = await serve(hs)
      const plain: Recorded[] = []
      plainSeen = plain
      const pe = echoEverywhere(plain, afterUpgrade)
      const ps = http.createServer(pe.handler)
      ps.on('upgrade', pe.upgrade)
      const plainUp = await serve(ps)
      closers.push(tlsUp.close, plainUp.close)
      const set = await runKit(['secret', 'set', 'anthropic'], {env, input: key + '\n', timeoutMs: 120_000})
      assert.equal(set.code, 0, set.stderr)
      for (const rule of ['allowed.example.com:80', 'GET,POST l7.example.com/api/**', 'GET l7.example.com/ws']) {
        const r = await runKit(['policy', 'allow', rule], {env, timeoutMs: 60_000})
        assert.equal(r.code, 0, `kit policy allow ${rule}: ${r.stderr}`)
      }
      const ws = join(base, 'workspace')
      mkdirSync(ws)
      // The agent is uid 1000; a container shares the host's uids.
      chownSync(ws, 1000, 1000)
      const connectTo = [`allowed.example.com:80:127.0.0.1:${plainUp.port}`, `evil.example.com:80:127.0.0.1:${plainUp.port}`, `l7.example.com:80:127.0.0.1:${plainUp.port}`].join(',')
      const r = await runKit(
        ['run', join(sampleKitsDir, 'shell-agent'), ...box.driverArgs, '--workspace', ws, '--name', `secguest-${process.pid}`, '--connect-to', `api.anthropic.com:443:127.0.0.1:${tlsUp.port}`, '--upstream-ca', ca.certPath, '--', 'bash', '-c', AGENT_SCRIPT],
        {env: {...env, KIT_PROXY_CONNECT_TO: connectTo}, timeoutMs: 600_000},
      )
      box.done()
      code = r.code
      stderr = r.stderr
      Object.assign(out, parseSay(r.stdout))
    })

    after(async () => {
      for (const c of closers) await c()
      if (box?.base) rmSync(box.base, {recursive: true, force: true})
    })

    const noKey = (name: string) => assert.ok(!(out[name] ?? '').includes(key), `${name} holds the real key`)

    it('the agent ran with the placeholder only', () => {
      assert.equal(code, 0, stderr)
      assert.equal(out.env_anthropic, 'proxy-managed')
      assert.ok(seen.some((s) => s.headers['x-api-key'] === key), 'the upstream saw the real key')
    })

    it('a bound host that echoes request headers never returns the real secret to the guest (header, body, split, gzip)', () => {
      for (const n of ['echo_header', 'echo_body', 'echo_split', 'echo_gzip']) noKey(n)
      assert.match(out.echo_header ?? '', /^x-echo: proxy-managed$/i)
      assert.match(out.echo_body ?? '', /"x-api-key":"proxy-managed"/)
      assert.equal(out.echo_split, 'key=proxy-managed;end')
      assert.match(out.echo_gzip ?? '', /"x-api-key":"proxy-managed"/)
      assert.equal(out.echo_raw_gzip_len, '1', 'a gzip body stays gzip and holds the placeholder')
    })

    it('a plain tunnel from the guest judges every request Host (leading CRLF, any method, pipelining)', () => {
      assert.match(out.tunnel_crlf ?? '', /^HTTP\/1\.1 200 Connection Established\|\|HTTP\/1\.1 403 /)
      assert.match(out.tunnel_lower ?? '', /^HTTP\/1\.1 200 Connection Established\|\|(HTTP\/1\.1 4\d\d |$)/)
      assert.match(out.tunnel_pipelined ?? '', /HTTP\/1\.1 200 .*HTTP\/1\.1 403 /)
      assert.ok(!plainSeen.some((s) => String(s.headers.host).startsWith('evil')), 'evil.example.com was reached')
    })

    it('an upgrade from the guest cannot switch off the L7 rules, and h2c is never forwarded', () => {
      assert.match(out.upgrade_other ?? '', /^HTTP\/1\.1 403 /)
      assert.ok(!Buffer.concat(afterUpgrade).toString('latin1').includes('DELETE'), 'a DELETE went through an upgraded pipe')
      assert.match(out.upgrade_h2c ?? '', /^HTTP\/1\.1 200 /)
      const h2c = plainSeen.find((s) => s.url === '/api/h2c')
      assert.ok(h2c && h2c.headers.upgrade === undefined && h2c.headers['http2-settings'] === undefined)
      assert.equal(out.upgrade_ws, 'HTTP/1.1 101')
    })
  })
}

attackSuite('security: the proxy attacked from inside a real VM (one boot)', async () => {
  const skip = sampleAgentSkipReason()
  if (skip) return {skip, env: {}, base: '', driverArgs: [], done: () => undefined}
  const assets: VmTestAssets = await vmTestAssets()
  return {env: assets.env, base: assets.kitHome, driverArgs: [], done: () => shareAccelVerdict(assets)}
})

attackSuite('security: the proxy attacked from inside a docker sandbox (--driver docker)', async () => {
  const engine = await testEngine()
  const skip = engine.skip ?? (spawnSync('sh', ['-c', 'command -v mmdebstrap']).status === 0 ? undefined : 'mmdebstrap is not installed')
  if (skip) return {skip, env: {}, base: '', driverArgs: [], done: () => undefined}
  const base = mkdtempSync(join(tmpdir(), 'kit-test-sec-docker-'))
  return {env: {...process.env, ...engine.env, KIT_HOME: join(base, 'home')}, base, driverArgs: ['--driver', 'docker'], done: () => undefined}
})
