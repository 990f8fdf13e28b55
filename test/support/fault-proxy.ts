// A fault-injecting reverse proxy on loopback, in front of a real registry. Each rule matches a
// method and a path pattern and fires a number of times; unmatched requests pass through.
//   status           answer with a status (500, 429 + Retry-After, ...) without asking upstream
//   reset            close the connection before any response
//   drop-mid-body    forward, then cut the connection halfway through the response body
//   truncate         forward with Content-Length halved and half the body (a clean short body)
//   corrupt          forward, flipping one byte of the body (same length: a wrong digest)
//   drop-request     cut the connection after half the request body has arrived (uploads)
//   redirect         answer 307 with Location: to(path) (a blob store on another origin)
import http from 'node:http'
import type net from 'node:net'

export type FaultAction =
  | {action: 'status'; status: number; headers?: Record<string, string>}
  | {action: 'reset'}
  | {action: 'drop-mid-body'}
  | {action: 'truncate'}
  | {action: 'corrupt'}
  | {action: 'drop-request'}
  | {action: 'redirect'; to: (path: string) => string}

export type FaultRule = FaultAction & {
  method?: string
  path: RegExp
  /** How many times the rule fires (default 1; Infinity for always). */
  times?: number
}

export interface FaultProxy {
  host: string
  url: string
  /** Rules still armed; push more at any time. */
  rules: Array<FaultRule & {fired: number}>
  /** Every request seen: "METHOD path". */
  log: string[]
  add(rule: FaultRule): void
  clear(): void
  stop(): Promise<void>
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream)
  const rules: FaultProxy['rules'] = []
  const log: string[] = []
  const sockets = new Set<net.Socket>()

  const take = (req: http.IncomingMessage): (FaultRule & {fired: number}) | undefined => {
    const path = req.url ?? '/'
    for (const rule of rules) {
      if (rule.method && rule.method !== req.method) continue
      if (!rule.path.test(path)) continue
      if (rule.fired >= (rule.times ?? 1)) continue
      rule.fired++
      return rule
    }
    return undefined
  }

  const server = http.createServer((req, res) => {
    log.push(`${req.method} ${req.url}`)
    const rule = take(req)
    if (rule?.action === 'status') {
      req.resume()
      res.writeHead(rule.status, {'content-length': '0', ...(rule.headers ?? {})}).end()
      return
    }
    if (rule?.action === 'redirect') {
      req.resume()
      res.writeHead(307, {location: rule.to(req.url ?? '/'), 'content-length': '0'}).end()
      return
    }
    if (rule?.action === 'reset') {
      req.socket.destroy()
      return
    }
    const headers = {...req.headers}
    const upstreamReq = http.request(
      {host: target.hostname, port: target.port, method: req.method, path: req.url, headers},
      (up) => {
        const outHeaders = {...up.headers}
        const length = Number(up.headers['content-length'] ?? NaN)
        if (!rule || !['drop-mid-body', 'truncate', 'corrupt'].includes(rule.action) || !(length > 1)) {
          res.writeHead(up.statusCode ?? 502, outHeaders)
          up.pipe(res)
          return
        }
        const half = Math.floor(length / 2)
        if (rule.action === 'truncate') outHeaders['content-length'] = String(half)
        res.writeHead(up.statusCode ?? 502, outHeaders)
        let sent = 0
        up.on('data', (chunk: Buffer) => {
          if (res.destroyed) return
          let c = chunk
          if (rule.action === 'corrupt') {
            if (sent <= half && half < sent + c.length) {
              c = Buffer.from(c)
              c[half - sent] ^= 0xff
            }
            sent += c.length
            res.write(c)
            return
          }
          if (sent + c.length >= half) {
            res.write(c.subarray(0, half - sent))
            sent = half
            up.destroy()
            if (rule.action === 'truncate') res.end()
            else res.socket?.destroy()
            return
          }
          sent += c.length
          res.write(c)
        })
        up.on('end', () => {
          if (!res.destroyed) res.end()
        })
      },
    )
    upstreamReq.on('error', () => res.socket?.destroy())
    if (rule?.action === 'drop-request') {
      const length = Number(req.headers['content-length'] ?? 0)
      let seen = 0
      req.on('data', (chunk: Buffer) => {
        seen += chunk.length
        if (seen >= length / 2) {
          upstreamReq.destroy()
          req.socket.destroy()
        } else {
          upstreamReq.write(chunk)
        }
      })
      return
    }
    req.pipe(upstreamReq)
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const port = (server.address() as net.AddressInfo).port
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    rules,
    log,
    add(rule) {
      rules.push({...rule, fired: 0})
    },
    clear() {
      rules.length = 0
      log.length = 0
    },
    async stop() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}
