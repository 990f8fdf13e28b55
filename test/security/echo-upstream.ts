// A hostile-but-ordinary upstream for the security suites: it echoes request headers everywhere a
// response can carry them (as debug endpoints do) and accepts any upgrade. Loopback only.
import {createHash} from 'node:crypto'
import type http from 'node:http'
import type net from 'node:net'
import zlib from 'node:zlib'

export interface Recorded {
  method: string
  url: string
  headers: http.IncomingHttpHeaders
  raw: string[]
}

/**
 * An upstream that echoes request headers everywhere a response can carry them: a response header,
 * a JSON body (identity, chunked and split mid-value, gzip, deflate, br, an unreadable coding), and
 * a WebSocket's first frame. It accepts any upgrade (h2c included) and records the raw bytes that
 * follow it.
 */
export function echoEverywhere(seen: Recorded[], afterUpgrade: Buffer[]) {
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume()
    req.on('end', () => {
      seen.push({method: req.method ?? '', url: req.url ?? '', headers: req.headers, raw: req.rawHeaders})
      const body = Buffer.from(JSON.stringify({headers: req.headers}))
      const path = (req.url ?? '').replace(/\?.*$/, '')
      const key = String(req.headers['x-api-key'] ?? req.headers.authorization ?? '')
      if (path === '/echo-header') {
        res.writeHead(200, {'x-echo': key, 'content-length': '2'})
        return res.end('ok')
      }
      if (path === '/echo-status') {
        res.writeHead(200, `OK ${key}`, {'content-length': '2'})
        return res.end('ok')
      }
      if (path === '/echo-split') {
        // The value cut in two, sent a while apart: two chunks (and two TCP segments).
        res.writeHead(200, {'content-type': 'text/plain'})
        const cut = Math.floor(key.length / 2)
        res.write(`key=${key.slice(0, cut)}`)
        setTimeout(() => res.end(`${key.slice(cut)};end`), 100)
        return
      }
      const coded: Record<string, [string, (b: Buffer) => Buffer]> = {
        '/echo-gzip': ['gzip', zlib.gzipSync],
        '/echo-deflate': ['deflate', zlib.deflateSync],
        '/echo-br': ['br', zlib.brotliCompressSync],
        '/echo-zstd': ['zstd', (b) => Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), b])],
      }
      const c = coded[path]
      if (c) {
        const z = c[1](body)
        res.writeHead(200, {'content-type': 'application/json', 'content-encoding': c[0], 'content-length': String(z.length)})
        return res.end(z)
      }
      res.writeHead(200, {'content-type': 'application/json', 'content-length': String(body.length)})
      res.end(body)
    })
  }
  const upgrade = (req: http.IncomingMessage, socket: net.Socket) => {
    seen.push({method: req.method ?? '', url: req.url ?? '', headers: req.headers, raw: req.rawHeaders})
    const proto = String(req.headers.upgrade ?? '')
    const lines = [`HTTP/1.1 101 Switching Protocols`, `Upgrade: ${proto}`, 'Connection: Upgrade']
    if (proto.toLowerCase() === 'websocket') {
      const accept = createHash('sha1').update(String(req.headers['sec-websocket-key']) + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64')
      lines.push(`Sec-WebSocket-Accept: ${accept}`, `X-Echo: ${String(req.headers['x-api-key'] ?? '')}`)
      socket.write(lines.join('\r\n') + '\r\n\r\n')
      // One unmasked text frame holding the key, as an echo server sends it.
      const payload = Buffer.from(`key=${String(req.headers['x-api-key'] ?? '')}`)
      socket.write(Buffer.concat([Buffer.from([0x81, payload.length]), payload]))
    } else {
      socket.write(lines.join('\r\n') + '\r\n\r\n')
    }
    socket.on('data', (d: Buffer) => afterUpgrade.push(d))
    socket.on('end', () => socket.end())
    socket.on('error', () => socket.destroy())
  }
  return {handler, upgrade}
}

export async function serve(server: http.Server): Promise<{port: number; close: () => Promise<void>}> {
  const sockets = new Set<net.Socket>()
  server.on('connection', (s: net.Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      }),
  }
}

