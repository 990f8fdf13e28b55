// The policy proxy: an HTTP/1.1 forward proxy (absolute-form requests and CONNECT) that enforces a
// Policy, resolves names itself, injects credentials on the hosts it terminates, and writes an
// audit line per decision. The same proxy runs standalone (`kit proxy`) and per sandbox.
//
// Paths through it:
// - `GET http://host/...` (absolute form): judged with method and path, forwarded over plain HTTP
//   to the address the proxy resolved and checked. No credential is ever injected in clear text.
// - `CONNECT host:port` to a host without injection or L7 rules: a tunnel. The proxy reads the
//   ClientHello and refuses an SNI that names another host; a plain-HTTP tunnel goes through the
//   HTTP parser so each request's Host is held to the target too.
// - `CONNECT host:port` to a host with injection or L7 rules: the proxy terminates TLS with a leaf
//   certificate from its CA (the SNI must match the target), judges each request inside, injects,
//   and re-encrypts upstream with verification against the system roots and any extra CA.
// - WebSocket upgrades on any of these.
// Memory per connection is bounded: streams are piped with backpressure, headers are capped, a
// ClientHello is buffered up to 64 KiB, and slow clients meet timeouts.
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import {readFileSync} from 'node:fs'
import {pipeline, type Duplex, type Transform} from 'node:stream'
import {normalizeHost, type Decision, type NormalizedHost} from '../../kit-compiler/network-rules.js'
import type {Policy, PolicyDecision} from '../policy/policy.js'
import type {KitCredential} from '../policy/from-kit.js'
import type {SecretSource} from '../secrets/store.js'
import {AuditLog} from './audit.js'
import {blockedResponse, errorResponse, refusalBytes, type ProxyErrorType, type Refusal} from './blocked.js'
import {loadOrCreateCA, type CA} from './ca.js'
import {Injector, type CustomSecret} from './inject.js'
import {PrefixedSocket} from './prefixed-socket.js'
import {narrowAcceptEncoding, redactBody, Redactor, type SecretPair} from './redact.js'
import {classifyTunnelStart} from './tunnel-http.js'
import {classifyUpgrade, upgradeAnswered} from './upgrade.js'
import {parseConnectTo, Resolver, type ConnectTo, type LookupFn, type Resolution} from './resolve.js'
import {MAX_CLIENT_HELLO, parseClientHello} from './sni.js'

export interface ProxyLimits {
  /** Largest request header section, bytes. */
  maxHeaderSize: number
  /** Time for a client to send a whole header section (slowloris). */
  headersTimeoutMs: number
  /** Time for a whole request, body included. */
  requestTimeoutMs: number
  /** Idle time of a keep-alive client connection between requests. */
  keepAliveTimeoutMs: number
  /** Idle time of any client connection or tunnel. */
  idleTimeoutMs: number
  /** Time for the first bytes (a ClientHello) after a CONNECT is accepted. */
  handshakeTimeoutMs: number
  /** Time to connect upstream. */
  connectTimeoutMs: number
  /** Client connections held at once; more are refused. */
  maxConnections: number
}

export const DEFAULT_LIMITS: ProxyLimits = {
  maxHeaderSize: 32 * 1024,
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 300_000,
  keepAliveTimeoutMs: 30_000,
  idleTimeoutMs: 600_000,
  handshakeTimeoutMs: 10_000,
  connectTimeoutMs: 30_000,
  maxConnections: 8192,
}

export interface ProxyOptions {
  /** `ADDR:PORT` or {host, port}; default 127.0.0.1 on a free port. */
  listen?: string | {host: string; port: number}
  policy: Policy
  /** Kit credentials (inject rules per service). */
  credentials?: readonly KitCredential[]
  /** Custom secrets bound to hosts. */
  customSecrets?: readonly CustomSecret[]
  /** Where secret values come from (the secret store). */
  secrets?: SecretSource
  /** Custom-secret placeholders to use (from computeGuestEnv); default fresh random ones. */
  placeholders?: Readonly<Record<string, string>>
  auditLogPath?: string
  /** Test resolver entries, `HOST:PORT:ADDR:PORT` as curl's --connect-to. */
  connectTo?: ReadonlyArray<string | ConnectTo>
  /** Extra roots (PEM text) for upstream TLS, besides the system roots. */
  upstreamCAs?: readonly string[]
  sandboxName?: string
  /** For KIT_HOME (the CA lives there). */
  env?: NodeJS.ProcessEnv
  /** Name resolution; default the system resolver. */
  lookup?: LookupFn
  limits?: Partial<ProxyLimits>
}

export interface RunningProxy {
  address: string
  port: number
  /** `http://ADDR:PORT`, for HTTP(S)_PROXY. */
  url: string
  caCertPath: string
  caCertPem: string
  /** Env vars for the guest: placeholders of bound secrets only. */
  guestEnv: Record<string, string>
  audit: AuditLog
  /** The policy new requests are judged by. */
  currentPolicy(): Policy
  /** Swap the policy for new requests and connections; ones already judged keep their verdict. */
  setPolicy(p: Policy): void
  stop(): Promise<void>
}

export class ProxyListenError extends Error {
  readonly code = 'E_PROXY_LISTEN'
  constructor(message: string) {
    super(message)
    this.name = 'ProxyListenError'
  }
}

/** A connection the proxy terminates (TLS) or parses (plain HTTP in a tunnel): its CONNECT target. */
interface Target {
  host: NormalizedHost
  hostText: string
  port: number
  tls: boolean
  resolution: Extract<Resolution, {ok: true}>
  l7: boolean
  /** Set when the TLS handshake was refused for its SNI. */
  sniRefused?: string
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // Never forwarded: an h2c upgrade would turn the connection into HTTP/2 the proxy does not judge.
  'http2-settings',
])

/**
 * End-to-end headers the proxy relies on (the target, the body's framing and coding): a
 * `Connection:` list naming one of them does not remove it.
 */
const NEVER_DROPPED = new Set(['host', 'content-length', 'content-encoding'])

function hostText(h: NormalizedHost): string {
  return h.kind === 'name' ? h.name : h.address
}

function displayHost(h: NormalizedHost): string {
  return h.kind === 'ip' && h.family === 6 ? `[${h.address}]` : hostText(h)
}

/** Parse `host:port` (CONNECT target, Host header). Port optional when `defaultPort` is given. */
export function parseAuthority(s: string, defaultPort?: number): {host: NormalizedHost; port: number} | {error: string} {
  if (s.length === 0 || s.length > 300) return {error: 'empty or too long authority'}
  if (s.includes('@')) return {error: 'userinfo is not allowed in an authority'}
  let hostPart: string
  let portPart: string | undefined
  if (s.startsWith('[')) {
    const close = s.indexOf(']')
    if (close < 0) return {error: 'unclosed "["'}
    hostPart = s.slice(1, close)
    const rest = s.slice(close + 1)
    if (rest !== '') {
      if (!rest.startsWith(':')) return {error: 'junk after "]"'}
      portPart = rest.slice(1)
    }
    if (net.isIP(hostPart) !== 6) return {error: 'brackets hold something other than an IPv6 address'}
  } else {
    const colon = s.lastIndexOf(':')
    if (colon >= 0) {
      if (s.indexOf(':') !== colon) return {error: 'an IPv6 address must be bracketed'}
      hostPart = s.slice(0, colon)
      portPart = s.slice(colon + 1)
    } else {
      hostPart = s
    }
  }
  let port: number
  if (portPart === undefined) {
    if (defaultPort === undefined) return {error: 'no port'}
    port = defaultPort
  } else {
    if (!/^[0-9]{1,5}$/.test(portPart)) return {error: `bad port ${JSON.stringify(portPart.slice(0, 20))}`}
    port = Number(portPart)
    if (port < 1 || port > 65535) return {error: `port ${port} is out of range 1-65535`}
  }
  try {
    return {host: normalizeHost(hostPart), port}
  } catch (e) {
    return {error: (e as Error).message}
  }
}

function sameHost(a: NormalizedHost, b: NormalizedHost): boolean {
  return hostText(a) === hostText(b)
}

function errorType(e: NodeJS.ErrnoException): {status: number; type: ProxyErrorType} {
  const code = e.code ?? ''
  if (code === 'ECONNREFUSED') return {status: 502, type: 'connection_refused'}
  if (code === 'ETIMEDOUT' || code === 'ECONNTIMEOUT') return {status: 504, type: 'connection_timeout'}
  if (code === 'ECONNRESET' || code === 'EPIPE') return {status: 502, type: 'connection_terminated'}
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return {status: 502, type: 'destination_unavailable'}
  if (/CERT|SELF_SIGNED|UNABLE_TO|ALTNAME|VERIFY/i.test(code)) return {status: 502, type: 'tls_certificate_error'}
  if (/^ERR_SSL|^ERR_TLS/.test(code)) return {status: 502, type: 'tls_protocol_error'}
  return {status: 502, type: 'destination_unavailable'}
}

function filterHeaders(raw: string[], keepUpgrade: boolean): string[] {
  let dropped = HOP_BY_HOP
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'connection') {
      for (const t of raw[i + 1]!.split(',')) {
        const tok = t.trim().toLowerCase()
        if (tok && tok !== 'upgrade' && tok !== 'keep-alive' && tok !== 'close' && !NEVER_DROPPED.has(tok)) {
          if (dropped === HOP_BY_HOP) dropped = new Set(HOP_BY_HOP)
          dropped.add(tok)
        }
      }
    }
  }
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!
    const lower = name.toLowerCase()
    if (keepUpgrade && (lower === 'upgrade' || lower === 'connection')) {
      if (lower === 'connection') out.push('Connection', 'Upgrade')
      else out.push(name, raw[i + 1]!)
      continue
    }
    if (dropped.has(lower)) continue
    out.push(name, raw[i + 1]!)
  }
  return out
}

function dropHeader(raw: string[], name: string): string[] {
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() !== name) out.push(raw[i]!, raw[i + 1]!)
  return out
}

function countHeader(raw: string[], name: string): number {
  let n = 0
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) n++
  return n
}

function systemRoots(): string[] {
  const roots = [...tls.rootCertificates]
  for (const f of ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt']) {
    try {
      roots.push(readFileSync(f, 'utf8'))
      break
    } catch {
      // not on this system
    }
  }
  return roots
}

function parseListen(l: ProxyOptions['listen']): {host: string; port: number} {
  if (l === undefined) return {host: '127.0.0.1', port: 0}
  if (typeof l !== 'string') return l
  const a = /^(\[[^\]]+\]|[^:]+):([0-9]{1,5})$/.exec(l)
  if (!a || Number(a[2]) > 65535) throw new ProxyListenError(`bad listen address ${JSON.stringify(l)} (ADDR:PORT)`)
  return {host: a[1]!.replace(/^\[(.*)\]$/, '$1'), port: Number(a[2])}
}

export async function startProxy(opts: ProxyOptions): Promise<RunningProxy> {
  const limits: ProxyLimits = {...DEFAULT_LIMITS, ...opts.limits}
  const env = opts.env ?? process.env
  // Swapped whole by setPolicy (live reload): each decision reads it once, so a request or tunnel
  // already judged keeps its verdict.
  let policy = opts.policy
  const ca: CA = await loadOrCreateCA(env)
  const injector = await Injector.create(opts.credentials ?? [], opts.customSecrets ?? [], opts.secrets, opts.placeholders)
  const resolver = new Resolver(
    (opts.connectTo ?? []).map((c) => (typeof c === 'string' ? parseConnectTo(c) : c)),
    opts.lookup,
  )
  const audit = new AuditLog(opts.auditLogPath, opts.sandboxName)
  const roots = [...systemRoots(), ...(opts.upstreamCAs ?? [])]
  // One TLS context for every upstream connection: parsing the roots per connection would cost
  // more than the handshake.
  const upstreamContext = tls.createSecureContext({ca: roots, minVersion: 'TLSv1.2'})
  const agentOpts = {keepAlive: true, maxSockets: 512, maxFreeSockets: 256, scheduling: 'lifo' as const, timeout: limits.idleTimeoutMs, noDelay: true}
  const httpAgent = new http.Agent(agentOpts)
  const httpsAgent = new https.Agent({...agentOpts, secureContext: upstreamContext, ALPNProtocols: ['http/1.1']} as https.AgentOptions)
  const sockets = new Set<net.Socket | tls.TLSSocket>()
  const targets = new WeakMap<object, Target>()
  /** The secrets injected on each client connection, taken out of every response on it. */
  const redactors = new WeakMap<object, Redactor>()
  function redactorFor(conn: object, add: readonly SecretPair[]): Redactor | undefined {
    let r = redactors.get(conn)
    if (add.length) {
      if (!r) redactors.set(conn, (r = new Redactor()))
      r.add(add)
    }
    return r && !r.empty ? r : undefined
  }
  /** Narrow Accept-Encoding to codings the proxy can decode (for a response it must redact). */
  function narrowCodings(headers: string[]): void {
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i]!.toLowerCase() === 'accept-encoding') headers[i + 1] = narrowAcceptEncoding(headers[i + 1]) ?? 'identity'
    }
  }

  const serverOpts: http.ServerOptions = {
    maxHeaderSize: limits.maxHeaderSize,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(100, Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4),
    insecureHTTPParser: false,
    joinDuplicateHeaders: false,
  }
  const outer = http.createServer(serverOpts)
  const inner = http.createServer(serverOpts)
  for (const s of [outer, inner]) {
    s.timeout = limits.idleTimeoutMs
  }
  outer.maxConnections = limits.maxConnections
  outer.on('connection', (s: net.Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })

  // -------------------------------------------------------------------------------------------
  // Refusals

  function refuse(res: http.ServerResponse, r: Refusal): void {
    if (res.headersSent) {
      res.destroy()
      return
    }
    const headers: string[] = []
    for (const [k, v] of r.headers) headers.push(k, v)
    headers.push('Content-Length', String(Buffer.byteLength(r.body)), 'Connection', 'close')
    res.writeHead(r.status, headers)
    res.end(r.body)
  }

  function refuseSocket(socket: net.Socket | import('node:stream').Duplex, r: Refusal): void {
    if (socket.writable) socket.end(refusalBytes(r))
    setTimeout(() => socket.destroy(), 1000).unref()
  }

  function clientError(err: NodeJS.ErrnoException & {rawPacket?: Buffer}, socket: import('node:stream').Duplex): void {
    const code = err.code ?? ''
    const tooBig = code === 'HPE_HEADER_OVERFLOW'
    const timeout = code === 'ERR_HTTP_REQUEST_TIMEOUT'
    const reason = tooBig ? 'request header section too large' : timeout ? 'request timed out' : `malformed request (${code || err.message})`
    const target = targets.get(socket)
    audit.write({
      kind: 'error',
      decision: 'deny',
      reason,
      status: tooBig ? 431 : timeout ? 408 : 400,
      bytesUp: 0,
      bytesDown: 0,
      durationMs: 0,
      ...(target ? {host: target.hostText, port: target.port} : {}),
    })
    if (code === 'ECONNRESET' || !socket.writable) {
      socket.destroy()
      return
    }
    const r = errorResponse(tooBig ? 431 : 400, 'http_request_error', reason, undefined)
    if (timeout) {
      socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
    } else {
      socket.end(refusalBytes(r))
    }
    setTimeout(() => socket.destroy(), 1000).unref()
  }
  outer.on('clientError', clientError)
  inner.on('clientError', clientError)

  // -------------------------------------------------------------------------------------------
  // Requests

  /** Work out the request's target from the absolute form (outer) or the tunnel (inner). */
  function requestTarget(req: http.IncomingMessage): {target: Target | undefined; host: NormalizedHost; port: number; path: string} | {refusal: Refusal} {
    const accept = req.headers.accept
    const bad = (m: string): {refusal: Refusal} => ({refusal: errorResponse(400, 'http_request_error', m, accept)})
    const raw = req.rawHeaders
    const hosts = countHeader(raw, 'host')
    if (hosts > 1) return bad('more than one Host header')
    const tunnel = targets.get(req.socket)
    const url = req.url ?? ''
    let host: NormalizedHost
    let port: number
    let path: string
    if (tunnel) {
      const defaultPort = tunnel.port
      if (url.startsWith('/')) {
        path = url
        host = tunnel.host
        port = tunnel.port
      } else {
        const m = /^(https?):\/\/([^/?#]*)(.*)$/i.exec(url)
        if (!m) return bad('request target is neither origin-form nor absolute-form')
        const a = parseAuthority(m[2]!, m[1]!.toLowerCase() === 'https' ? 443 : 80)
        if ('error' in a) return bad(`request target: ${a.error}`)
        host = a.host
        port = a.port
        path = m[3] || '/'
        if (!sameHost(host, tunnel.host) || port !== tunnel.port) return {refusal: misdirected(tunnel, accept)}
      }
      if (hosts === 0) {
        if (req.httpVersion !== '1.0') return bad('no Host header')
      } else {
        const h = parseAuthority(req.headers.host!, defaultPort)
        if ('error' in h) return bad(`Host header: ${h.error}`)
        if (!sameHost(h.host, tunnel.host) || h.port !== tunnel.port) return {refusal: misdirected(tunnel, accept)}
      }
      return {target: tunnel, host, port, path}
    }
    // Absolute form to the proxy.
    const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(url)
    if (!m) return bad('this is a proxy: send an absolute-form request (http://host/path) or CONNECT')
    const scheme = m[1]!.toLowerCase()
    if (scheme !== 'http' && scheme !== 'ws') return bad(`scheme ${scheme}: use CONNECT for TLS`)
    const a = parseAuthority(m[2]!, 80)
    if ('error' in a) return bad(`request target: ${a.error}`)
    host = a.host
    port = a.port
    path = m[3] || '/'
    if (!path.startsWith('/')) return bad('the path must start with "/"')
    if (hosts === 1) {
      const h = parseAuthority(req.headers.host!, 80)
      if ('error' in h) return bad(`Host header: ${h.error}`)
      if (!sameHost(h.host, host) || h.port !== port) return bad('the Host header does not match the request target')
    } else if (req.httpVersion !== '1.0') {
      return bad('no Host header')
    }
    return {target: undefined, host, port, path}
  }

  function misdirected(t: Target, accept: string | undefined): Refusal {
    const d: Decision = {action: 'deny', rule: 'host-mismatch', reason: `the request names another host than the CONNECT target ${displayHost(t.host)}:${t.port}`}
    return blockedResponse(d, {host: t.hostText, port: t.port}, accept, 'http_request_denied')
  }

  async function onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = Date.now()
    const t = requestTarget(req)
    const method = req.method ?? 'GET'
    if ('refusal' in t) {
      audit.write({kind: 'request', method, decision: 'deny', reason: refusalReason(t.refusal), status: t.refusal.status, bytesUp: 0, bytesDown: 0, durationMs: 0, ...(targets.get(req.socket) ? {host: targets.get(req.socket)!.hostText, port: targets.get(req.socket)!.port} : {})})
      refuse(res, t.refusal)
      return
    }
    const {host, port, path} = t
    const hostT = hostText(host)
    const decision = policy.evaluate({host: hostT, port, method, path})
    const base = {kind: 'request' as const, method, host: hostT, port, path}
    if (decision.action === 'deny') {
      const r = blockedResponse(decision, {host: displayHost(host), port, method, path}, req.headers.accept)
      audit.write({...base, ...decisionFields(decision), status: 403, bytesUp: 0, bytesDown: 0, durationMs: Date.now() - started})
      refuse(res, r)
      return
    }
    const resolution = await destinationOf(t, req, base, started, (r) => refuse(res, r))
    if (!resolution) return
    const useTls = t.target?.tls ?? false
    let headers = filterHeaders(req.rawHeaders, false)
    if (req.headers['transfer-encoding'] !== undefined) headers.push('Transfer-Encoding', 'chunked')
    let injected: string[] = []
    let redactor: Redactor | undefined
    if (useTls) {
      const inj = injector.apply(host, port, headers)
      headers = inj.headers
      injected = inj.services
      redactor = redactorFor(req.socket, inj.redact)
      if (redactor) narrowCodings(headers)
    }
    const redacted = {count: 0}
    let bytesUp = 0
    let bytesDown = 0
    const reqOpts: https.RequestOptions = {
      host: resolution.address,
      port: resolution.port,
      family: resolution.family,
      method,
      path,
      headers: headers as unknown as http.OutgoingHttpHeaders,
      setHost: false,
      agent: useTls ? httpsAgent : httpAgent,
      timeout: limits.connectTimeoutMs,
    }
    if (useTls && host.kind === 'name') reqOpts.servername = host.name
    const up = (useTls ? https : http).request(reqOpts)
    up.on('socket', (s) => s.setNoDelay(true))
    let done = false
    const finish = (status: number | undefined, extra: {reason?: string; decision?: 'allow' | 'error'} = {}) => {
      if (done) return
      done = true
      audit.write({
        ...base,
        ...decisionFields(decision),
        decision: extra.decision ?? 'allow',
        ...(extra.reason ? {reason: extra.reason} : {}),
        ...(status !== undefined ? {status} : {}),
        bytesUp,
        bytesDown,
        durationMs: Date.now() - started,
        ...(injected.length ? {credentials: injected} : {}),
        ...(redacted.count ? {redacted: redacted.count} : {}),
        intercepted: useTls,
        address: resolution.address,
      })
    }
    up.on('timeout', () => up.destroy(Object.assign(new Error('upstream timed out'), {code: 'ETIMEDOUT'})))
    up.on('response', (ures) => {
      up.setTimeout(limits.idleTimeoutMs)
      let rh = filterHeaders(ures.rawHeaders, false)
      const status = ures.statusCode ?? 502
      // A response on a connection that had secrets injected: every value is taken out of the
      // headers and the body (decoded, redacted, encoded again), or the response is refused.
      let body: Transform[] = []
      if (redactor) {
        rh = redactor.headers(rh, redacted)
        const bodiless = method === 'HEAD' || status === 204 || status === 304
        const stages = bodiless ? [] : redactBody(ures.headers['content-encoding'], redactor, redacted)
        if (!stages) {
          ures.destroy()
          finish(502, {decision: 'error', reason: `response in content coding ${JSON.stringify(String(ures.headers['content-encoding']).slice(0, 40))} cannot be redacted`})
          refuse(res, errorResponse(502, 'http_protocol_error', 'the upstream answered in a content coding the proxy cannot redact', req.headers.accept))
          return
        }
        body = stages
        // The body's length changes with each value replaced.
        if (body.length) rh = dropHeader(rh, 'content-length')
      }
      try {
        res.writeHead(status, redactor && ures.statusMessage ? redactor.text(ures.statusMessage).text : ures.statusMessage, rh)
      } catch {
        res.destroy()
        ures.destroy()
        return
      }
      ures.on('data', (d: Buffer) => (bytesDown += d.length))
      if (body.length) {
        pipeline([ures, ...body, res], (err) => {
          if (err) res.destroy()
        })
      } else {
        ures.pipe(res)
      }
      ures.on('error', () => res.destroy())
      res.on('close', () => {
        if (!ures.complete) ures.destroy()
        finish(ures.statusCode, ures.complete ? {} : {reason: 'response cut short'})
      })
    })
    up.on('error', (e: NodeJS.ErrnoException) => {
      const {status, type} = errorType(e)
      finish(status, {decision: 'error', reason: `upstream: ${e.code ?? e.message}`})
      if (!res.headersSent) refuse(res, errorResponse(status, type, `upstream ${displayHost(host)}:${port}: ${e.code ?? e.message}`, req.headers.accept))
      else res.destroy()
    })
    req.on('data', (d: Buffer) => (bytesUp += d.length))
    req.pipe(up)
    req.on('error', () => up.destroy())
    res.on('close', () => {
      if (!res.writableFinished) up.destroy()
    })
  }

  function decisionFields(d: Decision): {decision: 'allow' | 'deny'; rule?: string; source?: string; reason: string} {
    return {decision: d.action, ...(d.rule ? {rule: d.rule} : {rule: 'default-deny'}), ...(d.source ? {source: d.source} : {}), reason: d.reason}
  }

  function refusalReason(r: Refusal): string {
    try {
      const o = JSON.parse(r.body) as {message?: string; reason?: string}
      return o.reason ?? o.message ?? 'refused'
    } catch {
      return 'refused'
    }
  }

  /**
   * The checked address a request or upgrade goes to: its CONNECT tunnel's, or a fresh resolution.
   * A refused resolution is audited and sent with `send`; the result is then undefined.
   */
  async function destinationOf(
    t: {target: Target | undefined; host: NormalizedHost; port: number; path: string},
    req: http.IncomingMessage,
    base: {kind: 'request' | 'upgrade'; method: string; host: string; port: number; path: string},
    started: number,
    send: (r: Refusal) => void,
  ): Promise<Extract<Resolution, {ok: true}> | undefined> {
    if (t.target) return t.target.resolution
    const r = await resolver.resolve(t.host, t.port, policy)
    if (r.ok) return r
    const refusal = resolutionRefusal(r, t.host, t.port, base.method, t.path, req.headers.accept)
    const why = r.kind === 'prohibited' ? decisionFields(r.decision) : {reason: r.message}
    audit.write({...base, ...why, decision: 'deny', status: refusal.status, bytesUp: 0, bytesDown: 0, durationMs: Date.now() - started})
    send(refusal)
    return undefined
  }

  function resolutionRefusal(
    r: Exclude<Resolution, {ok: true}>,
    host: NormalizedHost,
    port: number,
    method: string | undefined,
    path: string | undefined,
    accept: string | undefined,
  ): Refusal {
    if (r.kind === 'prohibited') {
      return blockedResponse(r.decision, {host: displayHost(host), port, ...(method ? {method} : {}), ...(path ? {path} : {})}, accept, 'destination_ip_prohibited')
    }
    return errorResponse(502, r.notFound ? 'destination_not_found' : 'dns_error', r.message, accept)
  }

  // -------------------------------------------------------------------------------------------
  // WebSocket (and other) upgrades

  async function onUpgrade(req: http.IncomingMessage, socket: import('node:stream').Duplex, head: Buffer): Promise<void> {
    const started = Date.now()
    const method = req.method ?? 'GET'
    socket.on('error', () => socket.destroy())
    const t = requestTarget(req)
    if ('refusal' in t) {
      audit.write({kind: 'upgrade', method, decision: 'deny', reason: refusalReason(t.refusal), status: t.refusal.status, bytesUp: 0, bytesDown: 0, durationMs: 0})
      refuseSocket(socket, t.refusal)
      return
    }
    const {host, port, path} = t
    const hostT = hostText(host)
    const base = {kind: 'upgrade' as const, method, host: hostT, port, path}
    const decision = policy.evaluate({host: hostT, port, method, path})
    if (decision.action === 'deny') {
      audit.write({...base, ...decisionFields(decision), status: 403, bytesUp: 0, bytesDown: 0, durationMs: Date.now() - started})
      refuseSocket(socket, blockedResponse(decision, {host: displayHost(host), port, method, path}, req.headers.accept))
      return
    }
    // Only WebSocket keeps the rules of an L7 host; h2c goes on as a plain request.
    const verdict = classifyUpgrade(req.rawHeaders, (t.target?.l7 ?? false) || policy.hasL7Rules(hostT, port))
    if (verdict.kind === 'refuse') {
      const d: Decision = {action: 'deny', rule: 'upgrade-refused', reason: verdict.reason}
      audit.write({...base, ...decisionFields(d), status: 403, bytesUp: 0, bytesDown: 0, durationMs: Date.now() - started})
      refuseSocket(socket, blockedResponse(d, {host: displayHost(host), port, method, path}, req.headers.accept, 'http_request_denied'))
      return
    }
    const resolution = await destinationOf(t, req, base, started, (r) => refuseSocket(socket, r))
    if (!resolution) return
    const useTls = t.target?.tls ?? false
    let headers = verdict.kind === 'strip' ? filterHeaders(req.rawHeaders, false) : filterHeaders(req.rawHeaders, true)
    let injected: string[] = []
    let redactor: Redactor | undefined
    if (useTls) {
      const inj = injector.apply(host, port, headers)
      headers = inj.headers
      injected = inj.services
      redactor = redactorFor(req.socket, inj.redact)
      // No compression the proxy would have to see through (permessage-deflate).
      if (redactor) headers = dropHeader(dropHeader(headers, 'sec-websocket-extensions'), 'accept-encoding')
    }
    const redacted = {count: 0}
    const reqOpts: https.RequestOptions = {
      host: resolution.address,
      port: resolution.port,
      method,
      path,
      headers: headers as unknown as http.OutgoingHttpHeaders,
      setHost: false,
      agent: false,
      timeout: limits.connectTimeoutMs,
    }
    if (useTls) {
      if (host.kind === 'name') reqOpts.servername = host.name
      ;(reqOpts as tls.ConnectionOptions).secureContext = upstreamContext
    }
    const up = (useTls ? https : http).request(reqOpts)
    let logged = false
    const log = (status: number, bytesUp: number, bytesDown: number, reason?: string) => {
      if (logged) return
      logged = true
      audit.write({...base, ...decisionFields(decision), ...(reason ? {reason} : {}), status, bytesUp, bytesDown, durationMs: Date.now() - started, ...(injected.length ? {credentials: injected} : {}), ...(redacted.count ? {redacted: redacted.count} : {}), intercepted: useTls, address: resolution.address})
    }
    up.on('timeout', () => up.destroy(Object.assign(new Error('upstream timed out'), {code: 'ETIMEDOUT'})))
    up.on('upgrade', (ures, usock, uhead) => {
      up.setTimeout(0)
      // Held like any other socket: stop() tears it down even if the upstream never closes.
      sockets.add(usock as net.Socket)
      usock.on('close', () => sockets.delete(usock as net.Socket))
      if (!upgradeAnswered(verdict, ures.headers.upgrade)) {
        usock.destroy()
        log(502, 0, 0, `the upstream switched to ${JSON.stringify(String(ures.headers.upgrade ?? '').slice(0, 40))}, not the protocol asked for`)
        refuseSocket(socket, errorResponse(502, 'http_protocol_error', 'the upstream switched to another protocol than the one asked for', req.headers.accept))
        return
      }
      const lines = [`HTTP/1.1 101 ${redactor && ures.statusMessage ? redactor.text(ures.statusMessage).text : ures.statusMessage || 'Switching Protocols'}`]
      const rh = redactor ? redactor.headers(ures.rawHeaders, redacted) : ures.rawHeaders
      for (let i = 0; i < rh.length; i += 2) lines.push(`${rh[i]}: ${rh[i + 1]}`)
      socket.write(lines.join('\r\n') + '\r\n\r\n')
      // After the switch, values are masked in place (same length: WebSocket frames count bytes).
      const down: Duplex = redactor ? redactor.stream(redacted, true) : socket
      if (redactor) down.pipe(socket)
      if (uhead.length) down.write(uhead)
      if (head.length) usock.write(head)
      let upBytes = head.length
      let downBytes = uhead.length
      socket.on('data', (d: Buffer) => (upBytes += d.length))
      usock.on('data', (d: Buffer) => (downBytes += d.length))
      socket.pipe(usock)
      usock.pipe(down)
      usock.on('error', () => socket.destroy())
      socket.on('error', () => usock.destroy())
      usock.setTimeout(limits.idleTimeoutMs, () => usock.destroy())
      ;(socket as net.Socket).setTimeout?.(limits.idleTimeoutMs, () => socket.destroy())
      // As for tunnels: an orderly close ends the other side once its bytes are out.
      usock.on('close', (hadError: boolean) => {
        if (hadError) socket.destroy()
        else if (socket.writable) socket.end()
        log(101, upBytes, downBytes)
      })
      socket.on('close', (hadError: boolean) => {
        if (hadError) usock.destroy()
        else if (usock.writable) usock.end()
        log(101, upBytes, downBytes)
      })
    })
    up.on('response', (ures) => {
      // Not upgraded: pass the answer on and close.
      const lines = [`HTTP/1.1 ${ures.statusCode} ${redactor ? redactor.text(ures.statusMessage ?? '').text : (ures.statusMessage ?? '')}`]
      let rh = filterHeaders(ures.rawHeaders, false)
      let stages: Transform[] | undefined = []
      if (redactor) {
        rh = dropHeader(redactor.headers(rh, redacted), 'content-length')
        stages = redactBody(ures.headers['content-encoding'], redactor, redacted)
        if (!stages) {
          ures.destroy()
          log(502, 0, 0, 'a response in a content coding the proxy cannot redact')
          refuseSocket(socket, errorResponse(502, 'http_protocol_error', 'the upstream answered in a content coding the proxy cannot redact', req.headers.accept))
          return
        }
      }
      for (let i = 0; i < rh.length; i += 2) lines.push(`${rh[i]}: ${rh[i + 1]}`)
      lines.push('Connection: close')
      socket.write(lines.join('\r\n') + '\r\n\r\n')
      let down = 0
      ures.on('data', (d: Buffer) => (down += d.length))
      if (stages.length) pipeline([ures, ...stages, socket], () => undefined)
      else ures.pipe(socket)
      ures.on('end', () => log(ures.statusCode ?? 502, 0, down, 'upstream refused the upgrade'))
    })
    up.on('error', (e: NodeJS.ErrnoException) => {
      const {status, type} = errorType(e)
      log(status, 0, 0, `upstream: ${e.code ?? e.message}`)
      refuseSocket(socket, errorResponse(status, type, `upstream ${displayHost(host)}:${port}: ${e.code ?? e.message}`, req.headers.accept))
    })
    up.end()
  }

  // -------------------------------------------------------------------------------------------
  // CONNECT

  async function onConnect(req: http.IncomingMessage, socket: net.Socket, head: Buffer): Promise<void> {
    const started = Date.now()
    socket.on('error', () => socket.destroy())
    socket.setNoDelay(true)
    socket.setTimeout(limits.handshakeTimeoutMs, () => socket.destroy())
    const accept = req.headers.accept
    const a = parseAuthority(req.url ?? '')
    if ('error' in a) {
      audit.write({kind: 'connect', method: 'CONNECT', decision: 'deny', reason: `bad CONNECT target: ${a.error}`, status: 400, bytesUp: 0, bytesDown: 0, durationMs: 0})
      refuseSocket(socket, errorResponse(400, 'http_request_error', `bad CONNECT target: ${a.error}`, accept))
      return
    }
    const {host, port} = a
    const hostT = hostText(host)
    const base = {kind: 'connect' as const, method: 'CONNECT', host: hostT, port}
    if (countHeader(req.rawHeaders, 'host') > 1) {
      audit.write({...base, decision: 'deny', reason: 'more than one Host header', status: 400, bytesUp: 0, bytesDown: 0, durationMs: 0})
      refuseSocket(socket, errorResponse(400, 'http_request_error', 'more than one Host header', accept))
      return
    }
    if (req.headers.host !== undefined) {
      const h = parseAuthority(req.headers.host, port)
      if ('error' in h || !sameHost(h.host, host) || h.port !== port) {
        audit.write({...base, decision: 'deny', reason: 'the Host header does not match the CONNECT target', status: 400, bytesUp: 0, bytesDown: 0, durationMs: 0})
        refuseSocket(socket, errorResponse(400, 'http_request_error', 'the Host header does not match the CONNECT target', accept))
        return
      }
    }
    const decision = policy.evaluate({host: hostT, port})
    if (decision.action === 'deny') {
      audit.write({...base, ...decisionFields(decision), status: 403, bytesUp: 0, bytesDown: 0, durationMs: Date.now() - started})
      refuseSocket(socket, blockedResponse(decision, {host: displayHost(host), port, method: 'CONNECT'}, accept))
      return
    }
    const r = await resolver.resolve(host, port, policy)
    if (!r.ok) {
      const refusal = resolutionRefusal(r, host, port, 'CONNECT', undefined, accept)
      audit.write({...base, ...(r.kind === 'prohibited' ? decisionFields(r.decision) : {reason: r.message}), decision: 'deny', status: refusal.status, bytesUp: 0, bytesDown: 0, durationMs: Date.now() - started})
      refuseSocket(socket, refusal)
      return
    }
    const intercept = decision.intercept || injector.needsIntercept(host, port)
    if (intercept) {
      interceptTunnel(socket, head, {host, hostText: hostT, port, tls: port !== 80, resolution: r, l7: decision.intercept}, decision, started)
    } else {
      plainTunnel(socket, head, {host, hostText: hostT, port, tls: false, resolution: r, l7: false}, decision, started)
    }
  }

  /** A CONNECT tunnel's audit line, written once: when it ends, or when it is refused. */
  function tunnelLog(target: Target, decision: PolicyDecision, started: number, totals: () => {status: number; bytesUp: number; bytesDown: number}, intercepted = false): (reason?: string, deny?: boolean) => void {
    let logged = false
    return (reason, deny = false) => {
      if (logged) return
      logged = true
      audit.write({
        kind: 'connect',
        method: 'CONNECT',
        host: target.hostText,
        port: target.port,
        ...decisionFields(decision),
        ...(deny ? {decision: 'deny' as const} : {}),
        ...(reason ? {reason} : {}),
        ...totals(),
        durationMs: Date.now() - started,
        ...(intercepted ? {intercepted: true} : {}),
        address: target.resolution.address,
      })
    }
  }

  function interceptTunnel(socket: net.Socket, head: Buffer, target: Target, decision: PolicyDecision, started: number): void {
    const log = tunnelLog(target, decision, started, () => ({status: 200, bytesUp: socket.bytesRead, bytesDown: socket.bytesWritten}), true)
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
    socket.setTimeout(limits.idleTimeoutMs, () => socket.destroy())
    socket.on('close', () => log(target.sniRefused))
    if (!target.tls) {
      const s = head.length ? new PrefixedSocket(socket, head) : socket
      targets.set(s, target)
      inner.emit('connection', s)
      return
    }
    ca.contextFor(target.hostText).then(
      (ctx) => {
        if (socket.destroyed) return
        const raw = head.length ? new PrefixedSocket(socket, head) : socket
        const tsock = new tls.TLSSocket(raw as net.Socket, {
          isServer: true,
          secureContext: ctx,
          ALPNProtocols: ['http/1.1'],
          SNICallback: (servername, cb) => {
            let ok = false
            try {
              ok = sameHost(normalizeHost(servername), target.host)
            } catch {
              ok = false
            }
            if (!ok) {
              target.sniRefused = `TLS SNI ${JSON.stringify(servername.slice(0, 100))} does not match the CONNECT target`
              cb(new Error('SNI mismatch'), undefined)
              return
            }
            cb(null, ctx)
          },
        } as tls.TLSSocketOptions)
        targets.set(tsock, target)
        sockets.add(tsock)
        // A slow handshake gets the handshake timeout; the HTTP server's idle timeout follows.
        const handshakeTimer = setTimeout(() => tsock.destroy(), limits.handshakeTimeoutMs)
        tsock.once('secure', () => clearTimeout(handshakeTimer))
        tsock.once('close', () => clearTimeout(handshakeTimer))
        tsock.on('close', () => sockets.delete(tsock))
        tsock.on('error', (e) => {
          log(target.sniRefused ?? `TLS: ${(e as NodeJS.ErrnoException).code ?? e.message}`, target.sniRefused !== undefined)
          tsock.destroy()
        })
        inner.emit('connection', tsock)
      },
      (e: Error) => {
        log(`cannot issue a certificate: ${e.message}`)
        socket.destroy()
      },
    )
  }

  function plainTunnel(socket: net.Socket, head: Buffer, target: Target, decision: PolicyDecision, started: number): void {
    // Upstream bytes are read into one buffer per tunnel (no allocation per read) and handed to
    // `sink`: first the server-speaks-first check, then the client.
    let sink: (chunk: Buffer) => void = () => undefined
    const upstream = net.connect({
      host: target.resolution.address,
      port: target.resolution.port,
      family: target.resolution.family,
      noDelay: true,
      onread: {
        buffer: Buffer.allocUnsafe(64 * 1024),
        callback: (n: number, buf: Uint8Array) => {
          sink(Buffer.from(buf.subarray(0, n)))
          return true
        },
      },
    })
    sockets.add(upstream)
    upstream.setNoDelay(true)
    socket.setNoDelay(true)
    let status = 200
    const log = tunnelLog(target, decision, started, () => ({status, bytesUp: upstream.bytesWritten, bytesDown: upstream.bytesRead}))
    const connectTimer = setTimeout(() => upstream.destroy(Object.assign(new Error('connect timed out'), {code: 'ETIMEDOUT'})), limits.connectTimeoutMs)
    upstream.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(connectTimer)
      if (upstream.connecting || upstream.bytesWritten === 0) {
        const {status: st, type} = errorType(e)
        status = st
        log(`upstream: ${e.code ?? e.message}`)
        refuseSocket(socket, errorResponse(st, type, `upstream ${displayHost(target.host)}:${target.port}: ${e.code ?? e.message}`, undefined))
      } else {
        log()
        socket.destroy()
      }
    })
    upstream.on('close', () => sockets.delete(upstream))
    upstream.once('connect', () => {
      clearTimeout(connectTimer)
      if (socket.destroyed) {
        upstream.destroy()
        return
      }
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      // Look at the first bytes before anything reaches the upstream.
      let buf = head
      let waiting = false
      const onData = (d: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, d]) : d
        step()
      }
      const wait = () => {
        if (waiting) return
        waiting = true
        socket.on('data', onData)
        socket.resume()
      }
      const stopWaiting = () => {
        if (waiting) socket.removeListener('data', onData)
        waiting = false
        socket.pause()
      }
      const fail = (reason: string) => {
        stopWaiting()
        log(reason, true)
        socket.destroy()
        upstream.destroy()
      }
      // A server that speaks first (SMTP, SSH banners) is not an HTTP or TLS server: once it has,
      // the tunnel is a plain pipe. A client cannot make an HTTP server speak first.
      sink = (d: Buffer) => {
        upstream.pause()
        socket.write(d)
        if (buf.length === 0) {
          stopWaiting()
          pipeTunnel(buf)
        }
      }
      const step = (): void => {
        const ch = parseClientHello(buf)
        if (ch.status === 'need-more') {
          if (buf.length > MAX_CLIENT_HELLO) fail('ClientHello too large')
          else wait()
          return
        }
        if (ch.status === 'bad') return fail(`not a valid TLS ClientHello: ${ch.problem}`)
        if (ch.status === 'ok') {
          if (ch.sni !== undefined) {
            let ok = false
            try {
              ok = sameHost(normalizeHost(ch.sni), target.host)
            } catch {
              ok = false
            }
            if (!ok) return fail(`TLS SNI ${JSON.stringify(ch.sni.slice(0, 100))} does not match the CONNECT target`)
          }
          stopWaiting()
          return pipeTunnel(buf)
        }
        // Not TLS. Anything but SSH goes through the HTTP parser, so each request's Host is
        // checked and what is not HTTP is refused (fail closed).
        const kind = classifyTunnelStart(buf)
        if (kind.kind === 'need-more') {
          if (buf.length > MAX_CLIENT_HELLO) fail('no request after 64 KiB of empty lines')
          else wait()
          return
        }
        if (kind.kind === 'http') {
          stopWaiting()
          upstream.destroy()
          sockets.delete(upstream)
          log('plain HTTP in a tunnel: judged per request')
          const s = new PrefixedSocket(socket, buf)
          targets.set(s, {...target, tls: false})
          socket.setTimeout(limits.idleTimeoutMs)
          inner.emit('connection', s)
          socket.resume()
          return
        }
        stopWaiting()
        pipeTunnel(buf)
      }
      const pipeTunnel = (first: Buffer) => {
        socket.setTimeout(limits.idleTimeoutMs, () => {
          socket.destroy()
          upstream.destroy()
        })
        if (first.length) upstream.write(first)
        socket.pipe(upstream)
        const onDrain = () => upstream.resume()
        sink = (d: Buffer) => {
          if (!socket.write(d)) {
            upstream.pause()
            socket.once('drain', onDrain)
          }
        }
        upstream.setTimeout(limits.idleTimeoutMs, () => {
          socket.destroy()
          upstream.destroy()
        })
        // An orderly close on one side ends the other once its buffered bytes are written; a
        // reset or error tears both down.
        upstream.on('end', () => socket.end())
        upstream.resume()
        socket.resume()
        socket.on('close', (hadError: boolean) => {
          if (hadError) upstream.destroy()
          else if (!upstream.writableEnded) upstream.end()
          log()
        })
        upstream.on('close', (hadError: boolean) => {
          if (hadError) socket.destroy()
          else if (!socket.writableEnded) socket.end()
          log()
        })
        upstream.on('error', () => socket.destroy())
        socket.on('error', () => upstream.destroy())
      }
      step()
    })
  }

  outer.on('request', (req, res) => {
    onRequest(req, res).catch((e: Error) => refuse(res, errorResponse(500, 'proxy_internal_error', e.message, undefined)))
  })
  inner.on('request', (req, res) => {
    onRequest(req, res).catch((e: Error) => refuse(res, errorResponse(500, 'proxy_internal_error', e.message, undefined)))
  })
  outer.on('connect', (req, socket: net.Socket, head) => {
    onConnect(req, socket, head).catch(() => socket.destroy())
  })
  inner.on('connect', (req, socket: net.Socket) => {
    audit.write({kind: 'connect', method: 'CONNECT', decision: 'deny', reason: 'CONNECT inside a tunnel', status: 400, bytesUp: 0, bytesDown: 0, durationMs: 0})
    refuseSocket(socket, errorResponse(400, 'http_request_error', 'CONNECT inside a tunnel is not allowed', undefined))
  })
  for (const s of [outer, inner]) {
    s.on('upgrade', (req, socket, head) => {
      onUpgrade(req, socket, head).catch(() => socket.destroy())
    })
  }

  const listen = parseListen(opts.listen)
  await new Promise<void>((resolve, reject) => {
    outer.once('error', (e: NodeJS.ErrnoException) => reject(new ProxyListenError(`cannot listen on ${listen.host}:${listen.port}: ${e.code ?? e.message}`)))
    outer.listen(listen.port, listen.host, () => resolve())
  })
  const addr = outer.address() as net.AddressInfo
  const urlHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  return {
    address: addr.address,
    port: addr.port,
    url: `http://${urlHost}:${addr.port}`,
    caCertPath: ca.certPath,
    caCertPem: ca.certPem,
    guestEnv: injector.guestEnv(),
    audit,
    currentPolicy: () => policy,
    setPolicy(p: Policy) {
      policy = p
    },
    async stop() {
      await new Promise<void>((resolve) => {
        outer.close(() => resolve())
        for (const s of sockets) s.destroy()
        outer.closeAllConnections()
        inner.closeAllConnections()
      })
      httpAgent.destroy()
      httpsAgent.destroy()
      await audit.close()
    },
  }
}
