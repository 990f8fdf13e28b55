// One HTTP exchange over node:http/https, with streaming bodies both ways. No retries, auth or
// redirects here (client.ts adds them); just a request, a response and its headers, through the
// environment's HTTP(S)_PROXY unless NO_PROXY names the host.
import http, {type IncomingHttpHeaders, type IncomingMessage} from 'node:http'
import https from 'node:https'
import type {Duplex, Readable} from 'node:stream'
import {connect as tlsConnect, type ConnectionOptions as tlsConnectOptions, rootCertificates} from 'node:tls'
import {RegistryClientError} from './errors.js'

export interface TlsOptions {
  /** Extra CA certificates (PEM) to trust besides the system roots. */
  ca?: string | Buffer | Array<string | Buffer>
  /** Do not verify the server certificate (`--insecure`; never the default). */
  insecureSkipVerify?: boolean
}

export interface HttpRequest {
  method: string
  url: URL
  headers?: Record<string, string>
  /** A Buffer (replayable) or a stream (sent once). Set content-length in headers for streams. */
  body?: Buffer | Readable
}

export interface HttpResponse {
  status: number
  headers: IncomingHttpHeaders
  body: IncomingMessage
  url: URL
}

const httpAgent = new http.Agent({keepAlive: true, maxSockets: 16})
const httpsAgents = new Map<string, https.Agent>()

function httpsAgent(tls: TlsOptions): https.Agent {
  const key = JSON.stringify([tls.insecureSkipVerify ?? false, tls.ca ? String(tls.ca) : ''])
  let agent = httpsAgents.get(key)
  if (!agent) {
    const ca = tls.ca === undefined ? undefined : [...(Array.isArray(tls.ca) ? tls.ca : [tls.ca]), ...rootCertificates]
    agent = new https.Agent({keepAlive: true, maxSockets: 16, ca, rejectUnauthorized: !tls.insecureSkipVerify})
    httpsAgents.set(key, agent)
  }
  return agent
}

// ---- Proxies: HTTPS_PROXY / HTTP_PROXY / NO_PROXY (and their lower-case forms) ---------------
// http:// registries go through the proxy as absolute-form requests; https:// ones through a
// CONNECT tunnel, TLS end to end with the registry (the proxy sees only the host and port).

/** The proxy for `url` from the environment, or undefined (none set, or NO_PROXY matches). */
export function proxyFor(url: URL, env: NodeJS.ProcessEnv = process.env): URL | undefined {
  const httpProxy = env.http_proxy || env.HTTP_PROXY
  const raw = url.protocol === 'https:' ? env.https_proxy || env.HTTPS_PROXY || httpProxy : httpProxy
  if (!raw || bypassesProxy(url, env.no_proxy ?? env.NO_PROXY ?? '')) return undefined
  let proxy: URL
  try {
    proxy = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`)
  } catch {
    throw Object.assign(new Error(`the proxy setting ${JSON.stringify(redactProxy(raw))} is not a URL`), {code: 'EINVALIDPROXY'})
  }
  if (proxy.protocol !== 'http:') throw Object.assign(new Error(`proxy ${redactProxy(raw)}: only http:// proxies are supported`), {code: 'EINVALIDPROXY'})
  return proxy
}

/** NO_PROXY: `*`, or comma/space separated hosts (`example.com` covers its subdomains; `.x`/`*.x` only them), each with an optional :port. */
export function bypassesProxy(url: URL, noProxy: string): boolean {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase()
  const port = url.port || (url.protocol === 'https:' ? '443' : '80')
  for (let entry of noProxy.split(/[\s,]+/)) {
    entry = entry.trim().toLowerCase()
    if (!entry) continue
    if (entry === '*') return true
    let entryPort: string | undefined
    const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(entry)
    if (m) {
      entry = m[1]!
      entryPort = m[2]
    }
    entry = entry.replace(/^\[(.*)\]$/, '$1')
    if (entryPort !== undefined && entryPort !== port) continue
    if (entry.startsWith('*.')) entry = entry.slice(1)
    if (entry.startsWith('.') ? host.endsWith(entry) : host === entry || host.endsWith(`.${entry}`)) return true
  }
  return false
}

function redactProxy(raw: string): string {
  return raw.replace(/\/\/[^@/]*@/, '//***@')
}

function proxyAuthorization(proxy: URL): Record<string, string> {
  if (!proxy.username) return {}
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`
  return {'proxy-authorization': `Basic ${Buffer.from(credentials).toString('base64')}`}
}

const proxyHttpAgents = new Map<string, http.Agent>()
const tunnelAgents = new Map<string, https.Agent>()

function proxyHttpAgent(proxy: URL): http.Agent {
  let agent = proxyHttpAgents.get(proxy.href)
  if (!agent) {
    agent = new http.Agent({keepAlive: true, maxSockets: 16})
    proxyHttpAgents.set(proxy.href, agent)
  }
  return agent
}

/** An https.Agent whose sockets are CONNECT tunnels through `proxy`, TLS to the registry inside. */
function tunnelAgent(proxy: URL, tls: TlsOptions): https.Agent {
  const key = JSON.stringify([proxy.href, tls.insecureSkipVerify ?? false, tls.ca ? String(tls.ca) : ''])
  let agent = tunnelAgents.get(key)
  if (!agent) {
    const ca = tls.ca === undefined ? undefined : [...(Array.isArray(tls.ca) ? tls.ca : [tls.ca]), ...rootCertificates]
    agent = new https.Agent({keepAlive: true, maxSockets: 16, ca, rejectUnauthorized: !tls.insecureSkipVerify})
    // Node's Agent takes the socket from createConnection's callback when it returns nothing.
    const tunnelled = agent as unknown as {createConnection: (options: tlsConnectOptions, cb: (err: Error | null, socket?: Duplex) => void) => undefined}
    tunnelled.createConnection = (options, cb) => {
      const target = `${options.host}:${options.port}`
      const connect = http.request({
        host: proxy.hostname,
        port: proxy.port || 80,
        method: 'CONNECT',
        path: target,
        headers: {host: target, ...proxyAuthorization(proxy)},
        agent: false,
        timeout: SOCKET_TIMEOUT_MS,
      })
      connect.once('connect', (res, socket) => {
        if (res.statusCode !== 200) {
          socket.destroy()
          cb(Object.assign(new Error(`proxy ${proxy.host} refused CONNECT ${target}: HTTP ${res.statusCode}`), {code: 'EPROXYCONNECT'}))
          return
        }
        cb(null, tlsConnect({...options, socket}))
      })
      connect.once('timeout', () => connect.destroy(Object.assign(new Error(`proxy ${proxy.host}: CONNECT ${target} timed out`), {code: 'ETIMEDOUT'})))
      connect.once('error', (err) => cb(err))
      connect.end()
      return undefined
    }
    tunnelAgents.set(key, agent)
  }
  return agent
}

/** KIT_DEBUG=http logs each request (method, URL without query, status, time to headers) to stderr. */
const DEBUG = /(^|,)http(,|$)/.test(process.env.KIT_DEBUG ?? '')

/** Idle time on a socket before the request fails (a stalled registry). */
export const SOCKET_TIMEOUT_MS = 60_000

export function send(req: HttpRequest, tls: TlsOptions = {}): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const isHttps = req.url.protocol === 'https:'
    const headers: Record<string, string> = {'user-agent': 'kit-registry-client', ...(req.headers ?? {})}
    if (Buffer.isBuffer(req.body)) headers['content-length'] = String(req.body.length)
    let proxy: URL | undefined
    try {
      proxy = proxyFor(req.url)
    } catch (err) {
      reject(err)
      return
    }
    const options = {
      method: req.method,
      headers,
      agent: isHttps ? (proxy ? tunnelAgent(proxy, tls) : httpsAgent(tls)) : proxy ? proxyHttpAgent(proxy) : httpAgent,
      timeout: SOCKET_TIMEOUT_MS,
    }
    const started = DEBUG ? Date.now() : 0
    const onResponse = (res: IncomingMessage) => {
      if (DEBUG) process.stderr.write(`kit http: ${req.method} ${req.url.origin}${req.url.pathname} ${res.statusCode} ${Date.now() - started}ms\n`)
      resolve({status: res.statusCode ?? 0, headers: res.headers, body: res, url: req.url})
    }
    // Plain HTTP through a proxy: the absolute URL as the request target, sent to the proxy.
    const request = !isHttps && proxy
      ? http.request({...options, host: proxy.hostname, port: proxy.port || 80, path: req.url.href, headers: {...headers, host: req.url.host, ...proxyAuthorization(proxy)}}, onResponse)
      : (isHttps ? https : http).request(req.url, options, onResponse)
    request.on('timeout', () => request.destroy(Object.assign(new Error('socket timeout'), {code: 'ETIMEDOUT'})))
    request.on('error', reject)
    const body = req.body
    if (body === undefined) request.end()
    else if (Buffer.isBuffer(body)) request.end(body)
    else {
      body.on('error', (err) => request.destroy(err))
      body.pipe(request)
    }
  })
}

/** Reads a (small) response body as text, at most `max` bytes. */
export async function readText(res: HttpResponse, max = 4 * 1024 * 1024, opts: ReadBodyOptions = {}): Promise<string> {
  return (await readBody(res, max, opts)).toString('utf8')
}

export interface ReadBodyOptions {
  /** What is read, for errors: "manifest registry.example.com/team/x:1". */
  what?: string
  /** The whole body must arrive within this long (a registry dripping bytes is cut off). */
  deadlineMs?: number
}

/** A response body over its size limit, or not done by its deadline: not worth another try. */
export class BodyLimitError extends RegistryClientError {
  constructor(code: 'TOO_LARGE' | 'TOO_SLOW', message: string) {
    super(code, message)
  }
}

/**
 * Reads a response body as bytes, at most `max`: a Content-Length over it is refused before
 * reading, and reading stops at the limit (never buffers an endless body).
 */
export async function readBody(res: HttpResponse, max = 4 * 1024 * 1024, opts: ReadBodyOptions = {}): Promise<Buffer> {
  const what = opts.what ?? `response from ${res.url.origin}${res.url.pathname}`
  const claimed = Number(res.headers['content-length'])
  if (Number.isFinite(claimed) && claimed > max) {
    res.body.destroy()
    throw new BodyLimitError('TOO_LARGE', `${what}: the registry says it is ${claimed} bytes, over the limit of ${max} bytes`)
  }
  const chunks: Buffer[] = []
  let total = 0
  let timer: NodeJS.Timeout | undefined
  if (opts.deadlineMs !== undefined) {
    const ms = opts.deadlineMs
    timer = setTimeout(() => res.body.destroy(new BodyLimitError('TOO_SLOW', `${what}: not received within ${Math.round(ms / 1000)} s (${total} bytes arrived); the registry is too slow`)), ms)
  }
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      total += chunk.length
      if (total > max) {
        res.body.destroy()
        throw new BodyLimitError('TOO_LARGE', `${what}: response body larger than ${max} bytes`)
      }
      chunks.push(chunk)
    }
  } finally {
    if (timer) clearTimeout(timer)
  }
  return Buffer.concat(chunks)
}

/** Discards a response body so the socket goes back to the pool. */
export function discard(res: HttpResponse): void {
  res.body.resume()
}

export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()]
  return Array.isArray(v) ? v.join(', ') : v
}
