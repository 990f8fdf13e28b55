// Attacks on the policy proxy, each made by a real client (curl) or a raw socket against a real
// proxy with local fixture upstreams (loopback only, names mapped by the test resolver). Each test
// is named after the promise it guards; docs/security.md lists them. The hostile upstreams here
// are ordinary servers that echo what they are sent (debug endpoints do): the promise is that the
// guest never reads back a secret the proxy injected.
import assert from 'node:assert/strict'
import {readFileSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import {join} from 'node:path'
import tls from 'node:tls'
import {Policy} from '../../runtime/policy/policy.js'
import {startProxy, type RunningProxy} from '../../runtime/proxy/server.js'
import type {CA} from '../../runtime/proxy/ca.js'
import {echoEverywhere, serve, type Recorded} from './echo-upstream.js'
import {curl, httpUpstream, rawExchange, readLines, removeDir, run, tempDir, testCA, waitFor, type Upstream} from '../proxy/fixtures.js'

// Test-only values, made up here (not real credentials).
const SECRETS: Record<string, string> = {
  anthropic: 'sk-ant-SECTEST-7f3a9c-do-not-echo',
  github: 'ghp_SECTEST0b44do-not-echo',
  custom: 'CUSTOM-SECTEST-55e1-do-not-echo',
}

/** Open a CONNECT tunnel; resolves once the proxy answered. */
function tunnel(port: number, target: string): Promise<{socket: net.Socket; status: number}> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1')
    let buf = ''
    const onData = (d: Buffer) => {
      buf += d.toString('latin1')
      if (!buf.includes('\r\n\r\n')) return
      s.removeListener('data', onData)
      resolve({socket: s, status: Number(/^HTTP\/1\.1 (\d+)/.exec(buf)?.[1] ?? 0)})
    }
    s.on('data', onData)
    s.on('error', reject)
    s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`)
  })
}

/** Everything a stream sends until it closes or `ms` pass. */
function collect(s: net.Socket | tls.TLSSocket, ms = 3000): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    const done = () => {
      clearTimeout(t)
      s.destroy()
      resolve(Buffer.concat(chunks))
    }
    const t = setTimeout(done, ms)
    s.on('data', (d: Buffer) => chunks.push(d))
    s.on('close', done)
    s.on('error', done)
  })
}

function statusOf(resp: string): number {
  return Number(/^HTTP\/1\.[01] (\d{3})/.exec(resp)?.[1] ?? 0)
}

describe('security: the policy proxy under attack', function () {
  this.timeout(60_000)
  let home: string
  let upHome: string
  let upCA: CA
  let caFile: string
  let proxy: RunningProxy
  let audit: string
  let tlsUp: {port: number; close: () => Promise<void>}
  let plainUp: {port: number; close: () => Promise<void>}
  let allowedUp: Upstream
  const seen: Recorded[] = []
  const afterUpgrade: Buffer[] = []

  before(async () => {
    home = tempDir('kit-sec-proxy-')
    upHome = tempDir('kit-sec-upca-')
    upCA = await testCA(upHome)
    const e = echoEverywhere(seen, afterUpgrade)
    const hs = https.createServer({SNICallback: (n, cb) => upCA.contextFor(n).then((c) => cb(null, c), (err: Error) => cb(err, undefined))}, e.handler)
    hs.on('upgrade', e.upgrade)
    tlsUp = await serve(hs)
    const ps = http.createServer(e.handler)
    ps.on('upgrade', e.upgrade)
    plainUp = await serve(ps)
    allowedUp = await httpUpstream()
    audit = join(home, 'audit.jsonl')
    const tlsHosts = ['api.anthropic.com', 'api.github.com', 'custom.example.com']
    proxy = await startProxy({
      policy: new Policy({
        layers: [
          {
            source: 'flag',
            allow: [...tlsHosts, 'allowed.example.com', 'GET,POST l7.example.com/api/**', 'GET l7.example.com/ws', 'plain.example.com', 'nat64.example.com', 'sixtofour.example.com', 'compat.example.com', 'translated.example.com', '64:ff9b::/96', '2002::/16', '::/96', '::ffff:0:0/96'],
          },
        ],
      }),
      credentials: [
        {service: 'anthropic', envName: 'ANTHROPIC_API_KEY', inject: [{domain: 'api.anthropic.com', header: 'x-api-key'}]},
        {service: 'github', envName: 'GITHUB_TOKEN', inject: [{domain: 'api.github.com', scheme: 'basic', username: 'x-access-token'}]},
      ],
      customSecrets: [{name: 'custom', hosts: ['custom.example.com'], env: 'CUSTOM_TOKEN'}],
      secrets: {get: async (s) => SECRETS[s]},
      auditLogPath: audit,
      connectTo: [
        ...tlsHosts.map((h) => `${h}:443:127.0.0.1:${tlsUp.port}`),
        `l7.example.com:80:127.0.0.1:${plainUp.port}`,
        `plain.example.com:80:127.0.0.1:${plainUp.port}`,
        `allowed.example.com:80:127.0.0.1:${allowedUp.port}`,
        `evil.example.com:80:127.0.0.1:${allowedUp.port}`,
      ],
      // Names that resolve into the IPv6 forms of loopback (rebinding through a translator).
      lookup: async (name) => {
        const forms: Record<string, string> = {'nat64.example.com': '64:ff9b::7f00:1', 'sixtofour.example.com': '2002:7f00:1::1', 'compat.example.com': '::7f00:1', 'translated.example.com': '::ffff:0:7f00:1'}
        const a = forms[name]
        if (!a) throw Object.assign(new Error('not found'), {code: 'ENOTFOUND'})
        return [{address: a, family: 6}]
      },
      upstreamCAs: [upCA.certPem],
      env: {KIT_HOME: home},
    })
    caFile = proxy.caCertPath
    writeFileSync(join(upHome, 'upstream-ca.pem'), upCA.certPem)
  })

  after(async () => {
    await proxy?.stop()
    await tlsUp?.close()
    await plainUp?.close()
    await allowedUp?.close()
    removeDir(home)
    removeDir(upHome)
  })

  const leaks = (text: string | Buffer) => Object.values(SECRETS).filter((s) => text.includes(s) || text.includes(Buffer.from(`x-access-token:${s}`).toString('base64')))

  // ---------------------------------------------------------------------------------------------
  // Break 2: the real secret comes back

  it('a bound host that echoes request headers never returns the real secret (in a response header)', async () => {
    const r = await curl(proxy.url, 'https://api.anthropic.com/echo-header', ['--cacert', caFile, '-H', 'x-api-key: proxy-managed'])
    assert.equal(r.status, 200, r.stderr)
    assert.equal(seen.at(-1)!.headers['x-api-key'], SECRETS.anthropic, 'the upstream got the real key')
    assert.equal(r.headers['x-echo'], 'proxy-managed')
    assert.deepEqual(leaks(JSON.stringify(r)), [])
    const status = await run('curl', ['-sS', '-i', '--noproxy', '', '-x', proxy.url, '--cacert', caFile, '-H', 'x-api-key: proxy-managed', 'https://api.anthropic.com/echo-status'])
    assert.match(status.stdout, /HTTP\/1\.1 200 OK proxy-managed\r\n/, 'the reason phrase is redacted too')
    assert.deepEqual(leaks(status.stdout), [])
  })

  it('a bound host that echoes request headers never returns the real secret (in a body)', async () => {
    const r = await curl(proxy.url, 'https://api.anthropic.com/echo', ['--cacert', caFile, '-H', 'x-api-key: proxy-managed'])
    assert.equal(r.status, 200, r.stderr)
    assert.equal((JSON.parse(r.body) as {headers: Record<string, string>}).headers['x-api-key'], 'proxy-managed')
    assert.deepEqual(leaks(r.body), [])
  })

  it('a bound host never returns the real secret split across body chunks', async () => {
    const r = await curl(proxy.url, 'https://api.anthropic.com/echo-split', ['--cacert', caFile, '-H', 'x-api-key: proxy-managed'])
    assert.equal(r.status, 200, r.stderr)
    assert.equal(r.body, 'key=proxy-managed;end')
  })

  it('a bound host never returns the real secret in a gzip, deflate or br body', async () => {
    for (const coding of ['gzip', 'deflate', 'br']) {
      const r = await curl(proxy.url, `https://api.anthropic.com/echo-${coding}`, ['--cacert', caFile, '--compressed', '-H', 'x-api-key: proxy-managed'])
      assert.equal(r.status, 200, `${coding}: ${r.stderr}`)
      assert.equal(r.headers['content-encoding'], coding)
      assert.equal((JSON.parse(r.body) as {headers: Record<string, string>}).headers['x-api-key'], 'proxy-managed', coding)
      assert.deepEqual(leaks(r.body), [], coding)
    }
  })

  it('a bound host that answers in a coding the proxy cannot read gets no body through', async () => {
    const r = await curl(proxy.url, 'https://api.anthropic.com/echo-zstd', ['--cacert', caFile, '-H', 'x-api-key: proxy-managed', '-H', 'Accept-Encoding: zstd'])
    assert.equal(r.status, 502)
    assert.deepEqual(leaks(r.body), [])
  })

  it('a Basic credential comes back neither in clear nor base64-encoded', async () => {
    const r = await curl(proxy.url, 'https://api.github.com/echo', ['--cacert', caFile])
    assert.equal(r.status, 200, r.stderr)
    assert.equal(seen.at(-1)!.headers.authorization, 'Basic ' + Buffer.from(`x-access-token:${SECRETS.github}`).toString('base64'))
    assert.equal((JSON.parse(r.body) as {headers: Record<string, string>}).headers.authorization, 'Basic ' + Buffer.from('x-access-token:proxy-managed').toString('base64'))
    assert.deepEqual(leaks(r.body), [])
  })

  it('a bound WebSocket that echoes request headers never returns the real secret', async () => {
    const {socket, status} = await tunnel(proxy.port, 'api.anthropic.com:443')
    assert.equal(status, 200)
    const t = tls.connect({socket, servername: 'api.anthropic.com', ca: proxy.caCertPem})
    await new Promise((r) => t.once('secureConnect', r))
    const got = collect(t, 1500)
    t.write('GET /ws HTTP/1.1\r\nHost: api.anthropic.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\nx-api-key: proxy-managed\r\n\r\n')
    const b = await got
    assert.match(b.toString('latin1'), /^HTTP\/1\.1 101 /)
    assert.equal(seen.filter((s) => s.url === '/ws').at(-1)!.headers['x-api-key'], SECRETS.anthropic)
    assert.equal(seen.filter((s) => s.url === '/ws').at(-1)!.headers['sec-websocket-extensions'], undefined, 'no compression the proxy cannot see through')
    assert.deepEqual(leaks(b), [])
    // The frame keeps its length: the value is masked in place.
    const frame = b.subarray(b.indexOf('\r\n\r\n') + 4)
    assert.equal(frame[1], `key=${SECRETS.anthropic}`.length)
  })

  it('a custom placeholder is replaced only in the header its binding names', async () => {
    const ph = proxy.guestEnv.CUSTOM_TOKEN!
    const r = await curl(proxy.url, 'https://custom.example.com/echo', ['--cacert', caFile, '-H', `Authorization: token ${ph}`, '-H', `X-Other: ${ph}`, '-H', `Cookie: s=${ph}`])
    assert.equal(r.status, 200, r.stderr)
    const s = seen.at(-1)!
    assert.equal(s.headers.authorization, `token ${SECRETS.custom}`)
    assert.equal(s.headers['x-other'], ph, 'another header keeps the placeholder')
    assert.equal(s.headers.cookie, `s=${ph}`)
    assert.deepEqual(leaks(r.body), [])
  })

  it('the audit log records each redaction, never the value', async () => {
    await waitFor(() => readLines(audit).some((e) => e.path === '/echo-split' && typeof e.redacted === 'number'))
    const text = readFileSync(audit, 'utf8')
    assert.deepEqual(leaks(text), [])
    const entries = readLines(audit).filter((e) => typeof e.redacted === 'number')
    assert.ok(entries.some((e) => e.path === '/echo-header' && (e.redacted as number) >= 1))
    assert.ok(entries.some((e) => e.path === '/echo-gzip' && (e.redacted as number) >= 1))
  })

  // ---------------------------------------------------------------------------------------------
  // Break 3: the host check in plain tunnels

  const plainTunnel = (...after: string[]) => rawExchange(proxy.port, ['CONNECT allowed.example.com:80 HTTP/1.1\r\nHost: allowed.example.com:80\r\n\r\n', ...after], 2000)

  it('a plain tunnel judges the Host of a request after leading empty lines', async () => {
    const r = await plainTunnel('\r\nGET / HTTP/1.1\r\nHost: evil.example.com\r\n\r\n')
    assert.match(r, /^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 403 /)
    assert.ok(!allowedUp.seen.some((s) => s.host.startsWith('evil')), 'evil.example.com was reached')
  })

  it('a plain tunnel refuses a request it cannot parse instead of passing it on', async () => {
    const n = allowedUp.seen.length
    for (const req of ['get / HTTP/1.1\r\nHost: evil.example.com\r\n\r\n', 'X-FRONT / HTTP/1.1\r\nHost: evil.example.com\r\n\r\n', ' GET / HTTP/1.1\r\nHost: evil.example.com\r\n\r\n', '\u0000\u0001 Host: evil.example.com\r\n\r\n']) {
      const r = await plainTunnel(req)
      const answer = r.slice(r.indexOf('\r\n\r\n') + 4)
      assert.ok(answer === '' || statusOf(answer) >= 400, `${JSON.stringify(req)} → ${JSON.stringify(answer.slice(0, 40))}`)
    }
    assert.ok(!allowedUp.seen.slice(n).some((s) => s.host.startsWith('evil')), 'evil.example.com was reached')
  })

  it('a plain tunnel judges every pipelined request', async () => {
    const n = allowedUp.seen.length
    const r = await plainTunnel('GET /one HTTP/1.1\r\nHost: allowed.example.com\r\n\r\nGET /two HTTP/1.1\r\nHost: evil.example.com\r\n\r\n')
    assert.match(r, /HTTP\/1\.1 200 .*HTTP\/1\.1 403 /s)
    assert.ok(!allowedUp.seen.slice(n).some((s) => s.host.startsWith('evil')))
  })

  // ---------------------------------------------------------------------------------------------
  // Break 4: upgrades

  it('a host with method/path rules refuses upgrades other than WebSocket', async () => {
    const before = afterUpgrade.length
    const r = await rawExchange(proxy.port, ['GET http://l7.example.com/api/x HTTP/1.1\r\nHost: l7.example.com\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n', 'DELETE /api/x HTTP/1.1\r\nHost: l7.example.com\r\n\r\n'], 1500)
    assert.equal(statusOf(r), 403)
    assert.ok(!Buffer.concat(afterUpgrade.slice(before)).toString('latin1').includes('DELETE'), 'a DELETE went through an upgraded pipe')
  })

  it('h2c is never forwarded: the request goes on as HTTP/1.1', async () => {
    const n = seen.length
    const r = await rawExchange(proxy.port, 'GET http://plain.example.com/echo HTTP/1.1\r\nHost: plain.example.com\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n', 1500)
    assert.equal(statusOf(r), 200, r.slice(0, 200))
    const s = seen.slice(n).at(-1)!
    assert.equal(s.headers.upgrade, undefined)
    assert.equal(s.headers['http2-settings'], undefined)
    const l7 = await rawExchange(proxy.port, 'GET http://l7.example.com/api/x HTTP/1.1\r\nHost: l7.example.com\r\nUpgrade: h2c, websocket\r\nConnection: Upgrade\r\n\r\n', 1500)
    assert.equal(statusOf(l7), 403)
  })

  it('WebSocket on a host with method/path rules is judged by its own rule', async () => {
    const ws = (path: string) => `GET http://l7.example.com${path} HTTP/1.1\r\nHost: l7.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`
    assert.equal(statusOf(await rawExchange(proxy.port, ws('/ws'), 1000)), 101)
    assert.equal(statusOf(await rawExchange(proxy.port, ws('/other'), 1000)), 403)
  })

  it('WebSocket to a host no rule allows is refused', async () => {
    const r = await rawExchange(proxy.port, 'GET http://unlisted.example.com/ws HTTP/1.1\r\nHost: unlisted.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n', 1000)
    assert.equal(statusOf(r), 403)
  })

  // ---------------------------------------------------------------------------------------------
  // Smaller promises

  it('Connection: host does not strip the Host header', async () => {
    const r = await rawExchange(proxy.port, 'GET http://allowed.example.com/conn-host HTTP/1.1\r\nHost: allowed.example.com\r\nConnection: host, close\r\n\r\n', 1500)
    assert.equal(statusOf(r), 200, r.slice(0, 200))
    assert.equal(allowedUp.seen.find((s) => s.url === '/conn-host')?.host, 'allowed.example.com')
  })

  it('Connection: content-length does not turn a request body into a second request', async () => {
    const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: evil.example.com\r\n\r\n'
    await rawExchange(proxy.port, `GET http://allowed.example.com/cl HTTP/1.1\r\nHost: allowed.example.com\r\nContent-Length: ${smuggled.length}\r\nConnection: content-length\r\n\r\n${smuggled}`, 1500)
    assert.ok(!allowedUp.seen.some((s) => s.url === '/smuggled'), 'the body reached the upstream as a request')
  })

  it('a name that resolves to an IPv6 form of loopback (NAT64, 6to4, IPv4-compatible, IPv4-translated) is refused', async () => {
    for (const name of ['nat64.example.com', 'sixtofour.example.com', 'compat.example.com', 'translated.example.com']) {
      const r = await curl(proxy.url, `http://${name}/`)
      assert.equal(r.status, 403, name)
      assert.equal(r.headers['x-kit-policy'], 'destination-ip-prohibited', name)
    }
    const lit = await tunnel(proxy.port, '[64:ff9b::7f00:1]:443')
    lit.socket.destroy()
    assert.equal(lit.status, 403, 'an IP literal in NAT64 form of loopback')
  })

  it('admits exactly as many clients as its connection cap', async () => {
    const capped = await startProxy({policy: new Policy({layers: [{source: 'flag', allow: ['allowed.example.com']}]}), connectTo: [`allowed.example.com:80:127.0.0.1:${allowedUp.port}`], env: {KIT_HOME: home}, limits: {maxConnections: 8}})
    const socks: net.Socket[] = []
    try {
      const answers = await Promise.all(
        Array.from({length: 20}, () =>
          new Promise<number>((resolve) => {
            const s = net.connect(capped.port, '127.0.0.1', () => s.write('CONNECT allowed.example.com:80 HTTP/1.1\r\nHost: allowed.example.com:80\r\n\r\n'))
            socks.push(s)
            s.once('data', (d: Buffer) => resolve(statusOf(d.toString('latin1'))))
            s.on('close', () => resolve(0))
            s.on('error', () => resolve(0))
          }),
        ),
      )
      assert.equal(answers.filter((a) => a === 200).length, 8)
    } finally {
      for (const s of socks) s.destroy()
      await capped.stop()
    }
  })
})
