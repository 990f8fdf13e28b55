import assert from 'node:assert/strict'
import {readFileSync, statSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {join} from 'node:path'
import tls from 'node:tls'
import {ProxyAgent, fetch as undiciFetch} from 'undici'
import {Policy} from '../../runtime/policy/policy.js'
import {startProxy, type RunningProxy} from '../../runtime/proxy/server.js'
import type {CA} from '../../runtime/proxy/ca.js'
import {curl, httpsUpstream, httpUpstream, readLines, removeDir, run, tempDir, testCA, waitFor, type Upstream} from './fixtures.js'

const SECRETS: Record<string, string> = {
  anthropic: 'sk-ant-REAL-0001-do-not-leak',
  github: 'ghp_REAL0002donotleak',
  custom: 'CUSTOM-REAL-0003-do-not-leak',
}

/** Open a CONNECT tunnel by hand; resolves with the socket after the proxy's answer. */
function connectTunnel(port: number, target: string, extraHeaders = ''): Promise<{socket: net.Socket; status: number; head: string}> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1')
    let buf = ''
    const onData = (d: Buffer) => {
      buf += d.toString('latin1')
      const end = buf.indexOf('\r\n\r\n')
      if (end < 0) return
      s.removeListener('data', onData)
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(buf)?.[1] ?? 0)
      resolve({socket: s, status, head: buf})
    }
    s.on('data', onData)
    s.on('error', reject)
    s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${extraHeaders}\r\n`)
  })
}

describe('policy proxy: real clients through it', function () {
  this.timeout(60_000)
  let home: string
  let upHome: string
  let upCA: CA
  let https1: Upstream
  let http1: Upstream
  let proxy: RunningProxy
  let proxyUrl: string
  let audit: string
  let caFile: string
  let upCaFile: string

  before(async () => {
    home = tempDir('kit-proxy-home-')
    upHome = tempDir('kit-proxy-upca-')
    upCA = await testCA(upHome)
    upCaFile = join(upHome, 'upstream-ca.pem')
    writeFileSync(upCaFile, upCA.certPem)
    https1 = await httpsUpstream(upCA)
    http1 = await httpUpstream()
    audit = join(home, 'audit.jsonl')
    const tlsHosts = ['api.anthropic.com', 'fetch.example.com', 'api.github.com', 'tunnel.example.com', 'l7.example.com', 'custom.example.com', 'other.example.com', 'unbound.example.com']
    proxy = await startProxy({
      policy: new Policy({
        layers: [
          {
            source: 'flag',
            allow: [...tlsHosts.filter((h) => h !== 'l7.example.com'), 'plain.example.com', 'GET,HEAD l7.example.com/repos/**', 'localhost:*'],
            deny: ['l7.example.com/repos/*/admin/**'],
          },
        ],
      }),
      credentials: [
        {service: 'anthropic', envName: 'ANTHROPIC_API_KEY', inject: [{domain: 'api.anthropic.com', header: 'x-api-key', format: '%s'}, {domain: 'fetch.example.com', header: 'x-api-key'}]},
        {service: 'github', envName: 'GITHUB_TOKEN', inject: [{domain: 'api.github.com', scheme: 'bearer'}]},
        {service: 'unbound', envName: 'UNBOUND_KEY', inject: [{domain: 'unbound.example.com', scheme: 'bearer'}]},
      ],
      customSecrets: [{name: 'custom', hosts: ['custom.example.com'], env: 'CUSTOM_TOKEN'}],
      secrets: {get: async (s) => SECRETS[s]},
      auditLogPath: audit,
      connectTo: [...tlsHosts.map((h) => `${h}:443:127.0.0.1:${https1.port}`), `plain.example.com:80:127.0.0.1:${http1.port}`],
      upstreamCAs: [upCA.certPem],
      sandboxName: 'test-sbx',
      env: {KIT_HOME: home},
    })
    proxyUrl = proxy.url
    caFile = proxy.caCertPath
  })

  after(async () => {
    await proxy?.stop()
    await https1?.close()
    await http1?.close()
    removeDir(home)
    removeDir(upHome)
  })

  it('gives the guest placeholders for bound secrets only', () => {
    assert.equal(proxy.guestEnv.ANTHROPIC_API_KEY, 'proxy-managed')
    assert.equal(proxy.guestEnv.GITHUB_TOKEN, 'proxy-managed')
    assert.match(proxy.guestEnv.CUSTOM_TOKEN!, /^kit-placeholder-custom-[0-9a-f]{32}$/)
    assert.ok(!('UNBOUND_KEY' in proxy.guestEnv), 'no placeholder without a bound secret')
    for (const v of Object.values(proxy.guestEnv)) for (const s of Object.values(SECRETS)) assert.ok(!v.includes(s))
  })

  it('computes the same guest env before the proxy starts (computeGuestEnv, placeholders)', async () => {
    const {computeGuestEnv, Injector} = await import('../../runtime/proxy/inject.js')
    const creds = [{service: 'anthropic', envName: 'ANTHROPIC_API_KEY', inject: [{domain: 'api.anthropic.com', scheme: 'bearer' as const}]}, {service: 'nope', envName: 'NOPE', inject: []}]
    const custom = [{name: 'custom', hosts: ['custom.example.com']}]
    const g = await computeGuestEnv(creds, custom, {get: async (s) => SECRETS[s]})
    assert.deepEqual(Object.keys(g.env).sort(), ['ANTHROPIC_API_KEY', 'CUSTOM'])
    const again = await Injector.create(creds, custom, {get: async (s) => SECRETS[s]}, g.placeholders)
    assert.deepEqual(again.guestEnv(), g.env)
  })

  it('keeps the CA key private and hands out only the certificate', () => {
    assert.equal(statSync(join(home, 'proxy', 'ca-key.pem')).mode & 0o777, 0o600)
    assert.match(readFileSync(caFile, 'utf8'), /BEGIN CERTIFICATE/)
    assert.ok(!readFileSync(caFile, 'utf8').includes('PRIVATE KEY'))
  })

  it('injects a header credential on its domain (curl, MITM with the kit CA)', async () => {
    const r = await curl(proxyUrl, 'https://api.anthropic.com/v1/messages', ['--cacert', caFile, '-H', 'x-api-key: proxy-managed', '-H', 'X-Api-Key: second'])
    assert.equal(r.status, 200, r.stderr)
    const echo = JSON.parse(r.body) as {headers: Record<string, string>}
    assert.equal(echo.headers['x-api-key'], 'proxy-managed', 'the echo comes back redacted')
    const seen = https1.seen.at(-1)!
    assert.equal(seen.headers['x-api-key'], SECRETS.anthropic)
    assert.equal(seen.rawHeaders.filter((h) => h.toLowerCase() === 'x-api-key').length, 1, 'one x-api-key header only')
    assert.equal(seen.host, 'api.anthropic.com')
  })

  it('injects bearer tokens with the sbx scheme sugar', async () => {
    const r = await curl(proxyUrl, 'https://api.github.com/user', ['--cacert', caFile, '-H', 'Authorization: Bearer proxy-managed'])
    assert.equal(r.status, 200)
    assert.equal(https1.seen.at(-1)!.headers.authorization, `Bearer ${SECRETS.github}`)
    assert.equal((JSON.parse(r.body) as {headers: Record<string, string>}).headers.authorization, 'Bearer proxy-managed')
  })

  it('tunnels hosts without injection or L7 rules (the client sees the origin certificate)', async () => {
    const r = await curl(proxyUrl, 'https://tunnel.example.com/t', ['--cacert', upCaFile])
    assert.equal(r.status, 200, r.stderr)
    // The kit CA is not involved: trusting only it fails.
    const bad = await curl(proxyUrl, 'https://tunnel.example.com/t', ['--cacert', caFile])
    assert.notEqual(bad.exit, 0)
    await waitFor(() => readLines(audit).some((e) => e.kind === 'connect' && e.host === 'tunnel.example.com' && e.intercepted === undefined))
  })

  it('forwards plain HTTP absolute-form requests, never injecting in clear text', async () => {
    const r = await curl(proxyUrl, 'http://plain.example.com/hello?token=abc', ['-H', 'Authorization: Bearer proxy-managed'])
    assert.equal(r.status, 200)
    const echo = JSON.parse(r.body) as {url: string; headers: Record<string, string>}
    assert.equal(echo.url, '/hello?token=abc')
    assert.equal(echo.headers.authorization, 'Bearer proxy-managed')
    assert.ok(!('proxy-connection' in echo.headers))
  })

  it('answers a blocked request with a 403 a program can tell from an origin 403', async () => {
    const r = await curl(proxyUrl, 'http://blocked.example.com/x?secret=1')
    assert.equal(r.status, 403)
    assert.match(r.headers['proxy-status']!, /^kit; error=http_request_denied; details="/)
    assert.equal(r.headers['x-kit-policy'], 'default-deny')
    assert.match(r.headers['content-type']!, /application\/json/)
    const body = JSON.parse(r.body) as Record<string, unknown>
    assert.deepEqual(
      {error: body.error, host: body.host, port: body.port, method: body.method, path: body.path, rule: body.rule},
      {error: 'blocked_by_policy', host: 'blocked.example.com', port: 80, method: 'GET', path: '/x', rule: 'default-deny'},
    )
    assert.match(String(body.hint), /kit policy allow 'blocked\.example\.com'/)
    const text = await curl(proxyUrl, 'http://blocked.example.com/x', ['-H', 'Accept: text/html'])
    assert.match(text.headers['content-type']!, /text\/plain/)
    assert.match(text.body, /Blocked by kit policy/)
  })

  it('refuses a CONNECT with the same 403', async () => {
    const {socket, status, head} = await connectTunnel(proxy.port, 'blocked.example.com:443')
    const rest = await new Promise<string>((resolve) => {
      let b = head
      socket.on('data', (d) => (b += d.toString()))
      socket.on('close', () => resolve(b))
    })
    assert.equal(status, 403)
    assert.match(rest, /Proxy-Status: kit; error=http_request_denied/)
    assert.match(rest, /X-Kit-Policy: default-deny/)
    assert.match(rest, /"error":"blocked_by_policy"/)
    assert.match(rest, /"method":"CONNECT"/)
  })

  it('allows other ports only when a rule names them', async () => {
    const {socket, status} = await connectTunnel(proxy.port, 'tunnel.example.com:8443')
    socket.destroy()
    assert.equal(status, 403)
  })

  it('judges each request on an L7 host: method, path, deny wins, canonical paths', async () => {
    const ok = await curl(proxyUrl, 'https://l7.example.com/repos/a/b', ['--cacert', caFile])
    assert.equal(ok.status, 200)
    const post = await curl(proxyUrl, 'https://l7.example.com/repos/a/b', ['--cacert', caFile, '-X', 'POST'])
    assert.equal(post.status, 403)
    assert.equal(post.headers['x-kit-policy'], 'default-deny')
    assert.match(JSON.parse(post.body).reason as string, /POST \/repos\/a\/b/)
    const admin = await curl(proxyUrl, 'https://l7.example.com/repos/a/admin/x', ['--cacert', caFile])
    assert.equal(admin.status, 403)
    assert.equal(admin.headers['x-kit-policy'], 'l7.example.com/repos/*/admin/**')
    const dots = await curl(proxyUrl, 'https://l7.example.com/repos/a/x/../admin/x', ['--cacert', caFile, '--path-as-is'])
    assert.equal(dots.status, 403)
    assert.equal(dots.headers['x-kit-policy'], 'non-canonical-path')
    const enc = await curl(proxyUrl, 'https://l7.example.com/repos/a/%61dmin/x', ['--cacert', caFile, '--path-as-is'])
    assert.equal(enc.status, 403, 'percent-encoded letters are decoded before matching')
  })

  it('replaces a custom placeholder only for the hosts it is bound to', async () => {
    const ph = proxy.guestEnv.CUSTOM_TOKEN!
    const bound = await curl(proxyUrl, 'https://custom.example.com/x', ['--cacert', caFile, '-H', `Authorization: token ${ph}`, '-H', `X-Other: a${ph}b`])
    assert.equal(bound.status, 200, bound.stderr)
    const h = https1.seen.at(-1)!.headers
    assert.equal(h.authorization, `token ${SECRETS.custom}`)
    assert.equal(h['x-other'], `a${ph}b`, 'only the header the binding names (default Authorization)')
    const other = await curl(proxyUrl, 'https://other.example.com/x', ['--cacert', upCaFile, '-H', `Authorization: token ${ph}`])
    assert.equal((JSON.parse(other.body) as {headers: Record<string, string>}).headers.authorization, `token ${ph}`)
  })

  it('does not touch a header when no secret is bound', async () => {
    const r = await curl(proxyUrl, 'https://unbound.example.com/x', ['--cacert', upCaFile, '-H', 'Authorization: Bearer mine'])
    assert.equal(r.status, 200)
    assert.equal((JSON.parse(r.body) as {headers: Record<string, string>}).headers.authorization, 'Bearer mine')
  })

  it('refuses an allowed name that resolves to loopback (DNS rebinding, SSRF)', async () => {
    const r = await curl(proxyUrl, `http://localhost:${http1.port}/`)
    assert.equal(r.status, 403)
    assert.match(r.headers['proxy-status']!, /error=destination_ip_prohibited/)
    assert.equal(r.headers['x-kit-policy'], 'destination-ip-prohibited')
    assert.equal(http1.seen.filter((s) => s.host.startsWith('localhost')).length, 0)
  })

  it('refuses CONNECT to an IP literal without a CIDR rule', async () => {
    const {socket, status} = await connectTunnel(proxy.port, `127.0.0.1:${https1.port}`)
    socket.destroy()
    assert.equal(status, 403)
    const v6 = await connectTunnel(proxy.port, `[::1]:${https1.port}`)
    v6.socket.destroy()
    assert.equal(v6.status, 403)
  })

  it('refuses a TLS SNI that does not match the CONNECT target (tunnel and MITM)', async () => {
    for (const target of ['tunnel.example.com:443', 'api.anthropic.com:443']) {
      const {socket, status} = await connectTunnel(proxy.port, target)
      assert.equal(status, 200)
      const err = await new Promise<Error | undefined>((resolve) => {
        const t = tls.connect({socket, servername: 'evil.example.com', ca: [upCA.certPem, proxy.caCertPem], rejectUnauthorized: false})
        t.on('secureConnect', () => {
          t.destroy()
          resolve(undefined)
        })
        t.on('error', (e) => resolve(e))
        t.on('close', () => resolve(new Error('closed')))
      })
      assert.ok(err, `${target}: the handshake must fail`)
    }
    await waitFor(() => readLines(audit).filter((e) => /SNI "evil\.example\.com"/.test(String(e.reason))).length >= 2)
  })

  it('refuses a Host header that names another host inside an intercepted tunnel', async () => {
    const r = await curl(proxyUrl, 'https://api.anthropic.com/x', ['--cacert', caFile, '-H', 'Host: evil.example.com'])
    assert.equal(r.status, 403)
    assert.equal(r.headers['x-kit-policy'], 'host-mismatch')
    assert.ok(!https1.seen.some((s) => s.host === 'evil.example.com'))
  })

  it('serves Node fetch through undici ProxyAgent', async () => {
    const before = readLines(audit).length
    const agent = new ProxyAgent({uri: proxyUrl, requestTls: {ca: proxy.caCertPem}})
    try {
      for (let i = 0; i < 5; i++) {
        const res = await undiciFetch(`https://fetch.example.com/v1/n${i}`, {dispatcher: agent, headers: {'x-api-key': 'proxy-managed'}})
        assert.equal(res.status, 200)
        const j = (await res.json()) as {headers: Record<string, string>}
        assert.equal(j.headers['x-api-key'], 'proxy-managed')
        assert.equal(https1.seen.at(-1)!.headers['x-api-key'], SECRETS.anthropic)
      }
    } finally {
      await agent.close()
    }
    await waitFor(() => readLines(audit).slice(before).filter((e) => e.kind === 'request' && e.host === 'fetch.example.com').length === 5)
  })

  it('keeps client connections alive through an intercepted tunnel (curl reuses one CONNECT)', async () => {
    const r = await run('curl', ['-sS', '--noproxy', '', '-x', proxyUrl, '--cacert', caFile, '-o', '/dev/null', '-o', '/dev/null', '-w', '%{num_connects} ', 'https://api.github.com/a', 'https://api.github.com/b'])
    assert.equal(r.stdout.trim(), '1 0', r.stderr)
  })

  it('streams large bodies both ways (tunnel and MITM)', async () => {
    const size = 32 * 1024 * 1024
    for (const [url, ca] of [
      [`https://tunnel.example.com/bytes/${size}`, upCaFile],
      [`https://api.anthropic.com/bytes/${size}`, caFile],
    ] as const) {
      const r = await run('curl', ['-sS', '--noproxy', '', '-x', proxyUrl, '--cacert', ca, '-o', '/dev/null', '-w', '%{size_download}', url])
      assert.equal(r.stdout, String(size), r.stderr)
    }
    const upload = join(home, 'upload.bin')
    writeFileSync(upload, Buffer.alloc(8 * 1024 * 1024, 0x62))
    const r = await run('curl', ['-sS', '--noproxy', '', '-x', proxyUrl, '--cacert', caFile, '-H', 'Transfer-Encoding: chunked', '--data-binary', `@${upload}`, 'https://api.anthropic.com/sink'])
    assert.equal((JSON.parse(r.stdout) as {bodyBytes: number}).bodyBytes, 8 * 1024 * 1024)
    await waitFor(() => readLines(audit).some((e) => e.path === '/sink' && e.bytesUp === 8 * 1024 * 1024))
  })

  it('passes WebSocket upgrades (plain and intercepted)', async () => {
    // Plain: absolute-form upgrade.
    const plain = await new Promise<string>((resolve) => {
      const s = net.connect(proxy.port, '127.0.0.1', () => {
        s.write('GET http://plain.example.com/ws HTTP/1.1\r\nHost: plain.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
      })
      let b = ''
      s.on('data', (d) => {
        b += d.toString('latin1')
        if (b.includes('\r\n\r\n') && !b.includes('ping-1')) s.write('ping-1')
        if (b.includes('ping-1')) {
          s.destroy()
          resolve(b)
        }
      })
    })
    assert.match(plain, /^HTTP\/1\.1 101/)
    assert.match(plain, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/)
    // Intercepted: CONNECT, TLS with the kit CA, upgrade inside; the credential is injected.
    const {socket} = await connectTunnel(proxy.port, 'api.anthropic.com:443')
    const t = tls.connect({socket, servername: 'api.anthropic.com', ca: proxy.caCertPem})
    await new Promise((r) => t.once('secureConnect', r))
    const echoed = await new Promise<string>((resolve) => {
      let b = ''
      t.on('data', (d) => {
        b += d.toString('latin1')
        if (b.includes('\r\n\r\n') && !b.includes('ping-2')) t.write('ping-2')
        if (b.includes('ping-2')) {
          t.destroy()
          resolve(b)
        }
      })
      t.write('GET /ws HTTP/1.1\r\nHost: api.anthropic.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nx-api-key: proxy-managed\r\n\r\n')
    })
    assert.match(echoed, /^HTTP\/1\.1 101/)
    const seen = https1.seen.filter((s) => s.url === '/ws').at(-1)!
    assert.equal(seen.headers['x-api-key'], SECRETS.anthropic)
  })

  it('writes one audit line per decision, without any secret value', async () => {
    await waitFor(() => readLines(audit).length > 10)
    const text = readFileSync(audit, 'utf8')
    for (const s of Object.values(SECRETS)) assert.ok(!text.includes(s), 'a secret value reached the audit log')
    assert.ok(!text.includes(proxy.guestEnv.CUSTOM_TOKEN!), 'placeholders stay out too')
    assert.ok(!text.includes('token=abc'), 'no query strings')
    const lines = readLines(audit)
    const injected = lines.find((e) => e.kind === 'request' && e.host === 'api.anthropic.com')!
    assert.deepEqual(injected.credentials, ['anthropic'])
    assert.equal(injected.sandbox, 'test-sbx')
    for (const k of ['time', 'method', 'host', 'port', 'path', 'decision', 'rule', 'status', 'bytesUp', 'bytesDown', 'durationMs']) assert.ok(k in injected, k)
    assert.equal(statSync(audit).mode & 0o777, 0o600)
  })
})

describe('policy proxy: CIDR rules and upstream verification', function () {
  this.timeout(30_000)
  let home: string
  let upHome: string
  let up: Upstream
  let plain: Upstream
  let proxy: RunningProxy

  before(async () => {
    home = tempDir('kit-proxy2-home-')
    upHome = tempDir('kit-proxy2-upca-')
    up = await httpsUpstream(await testCA(upHome))
    plain = await httpUpstream()
    proxy = await startProxy({
      policy: new Policy({layers: [{source: 'local', allow: ['127.0.0.0/8:*', 'localhost:*', 'api.anthropic.com']}]}),
      credentials: [{service: 'anthropic', inject: [{domain: 'api.anthropic.com', scheme: 'bearer'}]}],
      secrets: {get: async () => 'sk-x'},
      connectTo: [`api.anthropic.com:443:127.0.0.1:${up.port}`],
      env: {KIT_HOME: home},
    })
  })

  after(async () => {
    await proxy?.stop()
    await up?.close()
    await plain?.close()
    removeDir(home)
    removeDir(upHome)
  })

  it('lets a CIDR rule inside the loopback range unlock loopback, by name and literal', async () => {
    const byName = await curl(proxy.url, `http://localhost:${plain.port}/n`)
    assert.equal(byName.status, 200)
    const literal = await curl(proxy.url, `http://127.0.0.1:${plain.port}/l`)
    assert.equal(literal.status, 200)
    const {socket, status} = await connectTunnel(proxy.port, `127.0.0.1:${up.port}`)
    socket.destroy()
    assert.equal(status, 200)
  })

  it('verifies upstream TLS against the system roots (an unknown CA is refused)', async () => {
    const r = await curl(proxy.url, 'https://api.anthropic.com/x', ['--cacert', proxy.caCertPath])
    assert.equal(r.status, 502)
    assert.match(r.headers['proxy-status']!, /error=tls_certificate_error/)
    assert.equal(up.seen.length, 0)
  })
})
