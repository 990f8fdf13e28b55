// Fixtures for the proxy tests: real servers on loopback standing in for public hosts (reached
// through the proxy's --connect-to test resolver), a test CA for their certificates, and helpers to
// run real clients (curl, git) and raw sockets against the proxy.
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {loadOrCreateCA, type CA} from '../../runtime/proxy/ca.js'

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

export function removeDir(dir: string): void {
  rmSync(dir, {recursive: true, force: true})
}

/** A CA for upstream fixtures (a second kit CA in its own home). */
export async function testCA(dir: string): Promise<CA> {
  return loadOrCreateCA({KIT_HOME: dir})
}

export interface Seen {
  method: string
  url: string
  headers: http.IncomingHttpHeaders
  rawHeaders: string[]
  bodyBytes: number
  host: string
}

export interface Upstream {
  port: number
  seen: Seen[]
  close(): Promise<void>
}

/**
 * An echo server: answers JSON {method, url, headers, bodyBytes}. `GET /bytes/N` answers N bytes;
 * `POST /sink` counts what it reads. WebSocket upgrades on /ws echo every byte back.
 */
function echoHandler(seen: Seen[]) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    let n = 0
    req.on('data', (d: Buffer) => (n += d.length))
    req.on('end', () => {
      const entry: Seen = {method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: n, host: req.headers.host ?? ''}
      seen.push(entry)
      const m = /^\/bytes\/(\d+)$/.exec(req.url ?? '')
      if (m) {
        const total = Number(m[1])
        res.writeHead(200, {'content-type': 'application/octet-stream', 'content-length': String(total)})
        const chunk = Buffer.alloc(64 * 1024, 0x61)
        let left = total
        const pump = () => {
          while (left > 0) {
            const c = left >= chunk.length ? chunk : chunk.subarray(0, left)
            left -= c.length
            if (!res.write(c)) return res.once('drain', pump)
          }
          res.end()
        }
        pump()
        return
      }
      const body = JSON.stringify({method: entry.method, url: entry.url, headers: entry.headers, bodyBytes: n})
      res.writeHead(200, {'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body))})
      res.end(body)
    })
  }
}

function wsUpgrade(seen: Seen[]) {
  return (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    seen.push({method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: 0, host: req.headers.host ?? ''})
    const key = req.headers['sec-websocket-key'] ?? ''
    const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64')
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
    if (head.length) socket.write(head)
    socket.pipe(socket)
  }
}

export async function httpsUpstream(ca: CA, handler?: http.RequestListener): Promise<Upstream> {
  const seen: Seen[] = []
  const server = https.createServer({SNICallback: (name, cb) => ca.contextFor(name).then((c) => cb(null, c), (e: Error) => cb(e, undefined))}, handler ?? echoHandler(seen))
  server.on('upgrade', wsUpgrade(seen))
  return listen(server, seen)
}

export async function httpUpstream(handler?: http.RequestListener): Promise<Upstream> {
  const seen: Seen[] = []
  const server = http.createServer(handler ?? echoHandler(seen))
  server.on('upgrade', wsUpgrade(seen))
  return listen(server, seen)
}

/** A raw TCP server that records the bytes it receives (for tunnels and smuggling checks). */
export async function rawUpstream(): Promise<Upstream & {received: () => string}> {
  const seen: Seen[] = []
  const chunks: Buffer[] = []
  const server = net.createServer((s) => {
    s.on('data', (d) => chunks.push(d))
    s.on('error', () => s.destroy())
  })
  const up = await listen(server, seen)
  return {...up, received: () => Buffer.concat(chunks).toString('latin1')}
}

async function listen(server: net.Server, seen: Seen[]): Promise<Upstream> {
  const sockets = new Set<net.Socket>()
  server.on('connection', (s: net.Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Run a program to completion (no shell). */
export function run(cmd: string, args: string[], opts: {env?: NodeJS.ProcessEnv; input?: string; cwd?: string; timeoutMs?: number} = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, {env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d) => (stdout += d))
    p.stderr.on('data', (d) => (stderr += d))
    const t = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 30_000)
    p.on('error', reject)
    p.on('close', (code) => {
      clearTimeout(t)
      resolve({code, stdout, stderr})
    })
    p.stdin.on('error', () => undefined)
    p.stdin.end(opts.input ?? '')
  })
}

/** curl through the proxy. Returns status, headers and body (-i output split). */
export async function curl(proxyUrl: string, url: string, extra: string[] = []): Promise<{status: number; headers: Record<string, string>; body: string; exit: number | null; stderr: string}> {
  const r = await run('curl', ['-sS', '-i', '--max-time', '20', '--noproxy', '', '-x', proxyUrl, ...extra, url], {env: {PATH: process.env.PATH ?? '/usr/bin:/bin'}})
  // With -i and a CONNECT, curl prints the proxy's answer first: take the last response.
  const parts = r.stdout.split(/\r?\n\r?\n/)
  let i = 0
  while (i < parts.length - 1 && /^HTTP\/1\.[01] (200 Connection established|100 )/i.test(parts[i]!)) i++
  const head = parts[i] ?? ''
  const body = parts.slice(i + 1).join('\r\n\r\n')
  const lines = head.split(/\r?\n/)
  const status = Number(/^HTTP\/[0-9.]+ (\d+)/.exec(lines[0] ?? '')?.[1] ?? 0)
  const headers: Record<string, string> = {}
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':')
    if (c > 0) headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim()
  }
  return {status, headers, body, exit: r.code, stderr: r.stderr}
}

/** Send raw bytes to a port and collect everything until the peer closes or `ms` pass. */
export function rawExchange(port: number, data: string | Buffer | Array<string | Buffer>, ms = 3000, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, host)
    const chunks: Buffer[] = []
    const done = () => {
      clearTimeout(t)
      s.destroy()
      resolve(Buffer.concat(chunks).toString('latin1'))
    }
    const t = setTimeout(done, ms)
    s.on('data', (d) => chunks.push(d))
    s.on('close', done)
    s.on('error', done)
    s.on('connect', () => {
      for (const d of Array.isArray(data) ? data : [data]) s.write(d)
    })
  })
}

export function readLines(file: string): Array<Record<string, unknown>> {
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return []
  }
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

/** Wait until `fn` returns true (polling), or fail after `ms`. */
export async function waitFor(fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 20))
  }
}
