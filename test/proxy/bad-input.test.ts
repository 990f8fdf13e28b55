// Malformed and hostile input, sent on raw sockets: each is refused or normalised, logged, and never
// gets past a rule. The upstream fixture records every request that reaches it; the invariant
// checked throughout is that nothing but allowed hosts ever reaches it.
import assert from 'node:assert/strict'
import net from 'node:net'
import {join} from 'node:path'
import {normalizeHost} from '../../kit-compiler/network-rules.js'
import {Policy} from '../../runtime/policy/policy.js'
import {startProxy, type RunningProxy} from '../../runtime/proxy/server.js'
import {seededRandom} from '../policy/random.js'
import {httpUpstream, rawExchange, readLines, removeDir, tempDir, waitFor, type Upstream} from './fixtures.js'

const ALLOWED = new Set(['ok.example.com', 'a.wild.example.com', 'xn--bcher-kva.example', 'l7.example.com'])

function statusOf(resp: string): number {
  return Number(/^HTTP\/1\.[01] (\d{3})/.exec(resp)?.[1] ?? 0)
}

describe('policy proxy: bad input', function () {
  this.timeout(60_000)
  let home: string
  let up: Upstream
  let proxy: RunningProxy
  let audit: string
  let banner: net.Server
  let burst: net.Server

  before(async () => {
    home = tempDir('kit-proxy-bad-')
    up = await httpUpstream()
    // A server that speaks first, then echoes.
    banner = net.createServer((s) => {
      s.write('220 banner ready\r\n')
      s.pipe(s)
      s.on('error', () => s.destroy())
    })
    await new Promise<void>((r) => banner.listen(0, '127.0.0.1', () => r()))
    // A server that sends 8 MiB at once and closes.
    burst = net.createServer((s) => {
      s.end(Buffer.alloc(8 * 1024 * 1024, 0x62))
      s.on('error', () => s.destroy())
    })
    await new Promise<void>((r) => burst.listen(0, '127.0.0.1', () => r()))
    audit = join(home, 'audit.jsonl')
    proxy = await startProxy({
      policy: new Policy({
        layers: [{source: 'local', allow: ['ok.example.com', '*.wild.example.com', 'bücher.example', 'GET l7.example.com/**', 'banner.example.com:2525', 'burst.example.com:2526'], deny: ['bad.wild.example.com']}],
      }),
      connectTo: [`:80:127.0.0.1:${up.port}`, `:443:127.0.0.1:${up.port}`, `banner.example.com:2525:127.0.0.1:${(banner.address() as net.AddressInfo).port}`, `burst.example.com:2526:127.0.0.1:${(burst.address() as net.AddressInfo).port}`],
      auditLogPath: audit,
      env: {KIT_HOME: home},
      limits: {headersTimeoutMs: 600, requestTimeoutMs: 3000, maxHeaderSize: 16 * 1024},
    })
  })

  after(async () => {
    await proxy?.stop()
    await up?.close()
    banner?.close()
    burst?.close()
    removeDir(home)
  })

  afterEach(() => {
    for (const s of up.seen) {
      const h = normalizeHost(s.host.replace(/:\d+$/, ''))
      assert.ok(h.kind === 'name' && ALLOWED.has(h.name), `a request for ${JSON.stringify(s.host)} reached the upstream`)
    }
  })

  const send = (data: string | Buffer | Array<string | Buffer>, ms = 2000) => rawExchange(proxy.port, data, ms)

  it('serves a well-formed request (the baseline)', async () => {
    const r = await send('GET http://ok.example.com/x HTTP/1.1\r\nHost: ok.example.com\r\nConnection: close\r\n\r\n')
    assert.equal(statusOf(r), 200)
  })

  const smuggling: Array<[string, string]> = [
    ['Content-Length with Transfer-Encoding', 'POST http://ok.example.com/ HTTP/1.1\r\nHost: ok.example.com\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET http://evil.example.com/ HTTP/1.1\r\nHost: evil.example.com\r\n\r\n'],
    ['duplicate Content-Length', 'POST http://ok.example.com/ HTTP/1.1\r\nHost: ok.example.com\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcdGET http://evil.example.com/ HTTP/1.1\r\nHost: evil.example.com\r\n\r\n'],
    ['Content-Length list', 'POST http://ok.example.com/ HTTP/1.1\r\nHost: ok.example.com\r\nContent-Length: 4, 40\r\n\r\nabcd'],
    ['obfuscated chunked (xchunked)', 'POST http://ok.example.com/ HTTP/1.1\r\nHost: ok.example.com\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n'],
    ['obfuscated chunked (chunked, identity)', 'POST http://ok.example.com/ HTTP/1.1\r\nHost: ok.example.com\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n'],
    ['space before the colon', 'POST http://ok.example.com/ HTTP/1.1\r\nHost: ok.example.com\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n'],
    ['bad chunk size', 'POST http://ok.example.com/ HTTP/1.1\r\nHost: ok.example.com\r\nTransfer-Encoding: chunked\r\n\r\n4x\r\nabcd\r\n0\r\n\r\n'],
    ['bare CR in a header value', 'GET http://ok.example.com/ HTTP/1.1\r\nHost: ok.example.com\r\nX-A: a\rGET http://evil.example.com/ HTTP/1.1\r\n\r\n'],
    ['NUL in a header value', 'GET http://ok.example.com/ HTTP/1.1\r\nHost: ok.example.com\r\nX-A: a\u0000b\r\n\r\n'],
    ['obs-fold continuation line', 'GET http://ok.example.com/ HTTP/1.1\r\nHost: ok.example.com\r\nX-A: a\r\n Host: evil.example.com\r\n\r\n'],
    ['CR/LF in the request target', 'GET http://ok.example.com/a\r\nHost: evil.example.com HTTP/1.1\r\nHost: ok.example.com\r\n\r\n'],
  ]
  for (const [name, req] of smuggling) {
    it(`refuses ${name}`, async () => {
      const before = up.seen.length
      const r = await send(req)
      assert.match(r, /^HTTP\/1\.1 4\d\d /, `${name}: got ${JSON.stringify(r.slice(0, 80))}`)
      assert.equal(up.seen.length, before, 'nothing reached the upstream')
    })
  }

  it('logs refused malformed requests', async () => {
    await waitFor(() => readLines(audit).filter((e) => e.kind === 'error').length >= 5)
  })

  it('refuses an absolute URI whose host differs from Host', async () => {
    const a = await send('GET http://ok.example.com/ HTTP/1.1\r\nHost: evil.example.com\r\n\r\n')
    assert.equal(statusOf(a), 400)
    const b = await send('GET http://evil.example.com/ HTTP/1.1\r\nHost: ok.example.com\r\n\r\n')
    assert.ok([400, 403].includes(statusOf(b)))
    const c = await send('GET http://ok.example.com/ HTTP/1.1\r\nHost: ok.example.com\r\nHost: evil.example.com\r\n\r\n')
    assert.equal(statusOf(c), 400, 'two Host headers')
    const d = await send('GET http://ok.example.com:8080/ HTTP/1.1\r\nHost: ok.example.com\r\n\r\n')
    assert.equal(statusOf(d), 400, 'port mismatch')
    const e = await send('GET http://user:pw@ok.example.com/ HTTP/1.1\r\nHost: ok.example.com\r\n\r\n')
    assert.equal(statusOf(e), 400, 'userinfo')
  })

  it('refuses an oversized header section with 431', async () => {
    const r = await send(`GET http://ok.example.com/ HTTP/1.1\r\nHost: ok.example.com\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`)
    assert.equal(statusOf(r), 431)
  })

  it('drops a slowloris client', async () => {
    const closed = await new Promise<boolean>((resolve) => {
      const s = net.connect(proxy.port, '127.0.0.1')
      const text = 'GET http://ok.example.com/ HTTP/1.1\r\nHost: ok.example.com\r\nX-Slow: ' + 'a'.repeat(200)
      let i = 0
      const timer = setInterval(() => {
        if (i >= text.length) {
          clearInterval(timer)
          s.destroy()
          resolve(false)
          return
        }
        s.write(text[i++]!)
      }, 50)
      s.on('close', () => {
        clearInterval(timer)
        resolve(true)
      })
      s.on('error', () => undefined)
    })
    assert.ok(closed, 'the proxy closed the slow connection before the client finished')
  })

  const badConnects: Array<[string, number]> = [
    ['ok.example.com:0', 400],
    ['ok.example.com:65536', 400],
    ['ok.example.com:99999999999', 400],
    ['ok.example.com:-1', 400],
    ['ok.example.com', 400],
    ['ok.example.com:443x', 400],
    ['[::1:443', 400],
    ['[::1]:443', 403],
    ['127.0.0.1:443', 403],
    ['2130706433:443', 403],
    ['0x7f.1:443', 403],
    ['BAD.Wild.Example.COM.:443', 403],
    ['evil.example.com:443', 403],
    ['a..example.com:443', 400],
    ['user@ok.example.com:443', 400],
  ]
  for (const [target, status] of badConnects) {
    it(`answers CONNECT ${target} with ${status}`, async () => {
      const r = await send(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`, 1500)
      assert.equal(statusOf(r), status, r.slice(0, 200))
      if (status === 403) assert.match(r, /Proxy-Status: kit; error=/)
    })
  }

  it('refuses a CONNECT whose Host header names another host', async () => {
    const r = await send('CONNECT ok.example.com:443 HTTP/1.1\r\nHost: evil.example.com:443\r\n\r\n', 1500)
    assert.equal(statusOf(r), 400)
  })

  it('normalises upper case, trailing dots and IDN before matching', async () => {
    const a = await send('GET http://OK.Example.COM./a HTTP/1.1\r\nHost: OK.Example.COM.\r\nConnection: close\r\n\r\n')
    assert.equal(statusOf(a), 200)
    const b = await send('GET http://BAD.WILD.example.com/ HTTP/1.1\r\nHost: BAD.WILD.example.com\r\n\r\n')
    assert.equal(statusOf(b), 403)
    assert.match(b, /X-Kit-Policy: bad\.wild\.example\.com/)
    const c = await send('GET http://a.WILD.example.com./ HTTP/1.1\r\nHost: a.wild.example.com\r\nConnection: close\r\n\r\n')
    assert.equal(statusOf(c), 200)
    const d = await send('GET http://xn--bcher-kva.example/ HTTP/1.1\r\nHost: xn--bcher-kva.example\r\nConnection: close\r\n\r\n')
    assert.equal(statusOf(d), 200)
    const e = await send(Buffer.from('GET http://bücher.example/ HTTP/1.1\r\nHost: bücher.example\r\nConnection: close\r\n\r\n', 'utf8'))
    assert.ok([200, 400].includes(statusOf(e)), 'raw UTF-8 is either refused or normalised')
    for (const ip of ['127.0.0.1', '2130706433', '0x7f.1', '[::1]', '[::ffff:127.0.0.1]']) {
      const r = await send(`GET http://${ip}/ HTTP/1.1\r\nHost: ${ip}\r\n\r\n`)
      assert.equal(statusOf(r), 403, ip)
    }
  })

  it('judges plain HTTP inside a CONNECT tunnel request by request (tunnelled and intercepted)', async () => {
    const tunnel = await send([
      'CONNECT ok.example.com:80 HTTP/1.1\r\nHost: ok.example.com:80\r\n\r\n',
      'GET /one HTTP/1.1\r\nHost: ok.example.com\r\n\r\n',
    ])
    assert.match(tunnel, /^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 200 /)
    const fronted = await send(['CONNECT ok.example.com:80 HTTP/1.1\r\nHost: ok.example.com:80\r\n\r\n', 'GET / HTTP/1.1\r\nHost: evil.example.com\r\n\r\n'])
    assert.match(fronted, /\r\n\r\nHTTP\/1\.1 403 .*X-Kit-Policy: host-mismatch/s)
    const l7 = await send(['CONNECT l7.example.com:80 HTTP/1.1\r\nHost: l7.example.com:80\r\n\r\n', 'GET /a HTTP/1.1\r\nHost: l7.example.com\r\n\r\nPOST /a HTTP/1.1\r\nHost: l7.example.com\r\nContent-Length: 0\r\n\r\n'])
    assert.match(l7, /^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 200 .*HTTP\/1\.1 403 /s)
  })

  it('passes a server-first protocol through a tunnel on a named port', async () => {
    const r = await new Promise<string>((resolve) => {
      const s = net.connect(proxy.port, '127.0.0.1', () => s.write('CONNECT banner.example.com:2525 HTTP/1.1\r\nHost: banner.example.com:2525\r\n\r\n'))
      let b = ''
      s.on('data', (d) => {
        b += d.toString('latin1')
        if (b.includes('220 banner ready\r\n') && !b.includes('EHLO')) s.write('EHLO x\r\n')
        if (b.includes('EHLO x\r\n')) {
          s.destroy()
          resolve(b)
        }
      })
      setTimeout(() => {
        s.destroy()
        resolve(b)
      }, 5000)
    })
    assert.match(r, /^HTTP\/1\.1 200 Connection Established\r\n\r\n220 banner ready\r\nEHLO x\r\n$/)
  })

  it('delivers everything a server sent before it closed the tunnel', async () => {
    const got = await new Promise<number>((resolve) => {
      const s = net.connect(proxy.port, '127.0.0.1', () => s.write('CONNECT burst.example.com:2526 HTTP/1.1\r\nHost: burst.example.com:2526\r\n\r\n'))
      let n = 0
      let headDone = false
      s.on('data', (d: Buffer) => {
        if (!headDone) {
          const i = d.indexOf('\r\n\r\n')
          headDone = true
          n += d.length - (i + 4)
          // A slow reader: the proxy holds bytes when the server closes.
          s.pause()
          setTimeout(() => s.resume(), 500)
        } else n += d.length
      })
      s.on('close', () => resolve(n))
      s.on('end', () => s.end())
    })
    assert.equal(got, 8 * 1024 * 1024)
  })

  it('survives a fuzzed request stream and lets nothing past the rules', async () => {
    const rand = seededRandom(20261123)
    const templates = [
      'GET http://ok.example.com/p HTTP/1.1\r\nHost: ok.example.com\r\nConnection: close\r\n\r\n',
      'POST http://ok.example.com/p HTTP/1.1\r\nHost: ok.example.com\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc',
      'POST http://ok.example.com/p HTTP/1.1\r\nHost: ok.example.com\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
      'CONNECT ok.example.com:443 HTTP/1.1\r\nHost: ok.example.com:443\r\n\r\n',
      'GET http://evil.example.com/p HTTP/1.1\r\nHost: evil.example.com\r\n\r\n',
    ]
    const noise = ['\r', '\n', '\r\n', ' ', '\t', ':', '\u0000', 'chunked', 'Content-Length: 0\r\n', 'Transfer-Encoding: chunked\r\n', 'Host: evil.example.com\r\n', '0', '9', '\u00ff', 'GET http://evil.example.com/ HTTP/1.1\r\n', '@', '.', '[', ']', 'evil']
    const cases: string[] = []
    for (let i = 0; i < 300; i++) {
      let s = templates[Math.floor(rand() * templates.length)]!
      const edits = 1 + Math.floor(rand() * 3)
      for (let k = 0; k < edits; k++) {
        const at = Math.floor(rand() * s.length)
        const op = rand()
        if (op < 0.4) s = s.slice(0, at) + noise[Math.floor(rand() * noise.length)] + s.slice(at)
        else if (op < 0.7) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rand() * 4))
        else s = s.slice(0, at) + String.fromCharCode(Math.floor(rand() * 256)) + s.slice(at + 1)
      }
      cases.push(s)
    }
    for (let i = 0; i < cases.length; i += 25) {
      const batch = cases.slice(i, i + 25)
      const answers = await Promise.all(batch.map((c) => rawExchange(proxy.port, Buffer.from(c, 'latin1'), 700)))
      for (const [j, a] of answers.entries()) {
        if (a === '') continue
        assert.match(a, /^HTTP\/1\.1 \d{3} /, `case ${i + j}: ${JSON.stringify(batch[j])} → ${JSON.stringify(a.slice(0, 60))}`)
      }
    }
    // Still serving.
    const r = await send('GET http://ok.example.com/alive HTTP/1.1\r\nHost: ok.example.com\r\nConnection: close\r\n\r\n')
    assert.equal(statusOf(r), 200)
  })
})
