// What a client gets when the proxy refuses: a response a program can tell from an origin's, with
// a Proxy-Status header (RFC 9209) naming the error type, X-Kit-Policy naming the rule (or
// default-deny), and a JSON body (text for clients that do not accept JSON).
import type {Decision} from '../../kit-compiler/network-rules.js'
import {hintFor} from '../policy/policy.js'

/** RFC 9209 proxy error types the proxy uses. */
export type ProxyErrorType =
  | 'http_request_denied'
  | 'destination_ip_prohibited'
  | 'http_request_error'
  | 'dns_error'
  | 'destination_not_found'
  | 'destination_unavailable'
  | 'connection_refused'
  | 'connection_timeout'
  | 'connection_terminated'
  | 'tls_certificate_error'
  | 'tls_protocol_error'
  | 'http_protocol_error'
  | 'http_upgrade_failed'
  | 'proxy_internal_error'

export interface Refusal {
  status: number
  headers: Array<[string, string]>
  body: string
}

export interface BlockedInfo {
  host?: string
  port?: number
  method?: string
  path?: string
}

function proxyStatus(type: ProxyErrorType, details: string): string {
  // details is an sf-string: printable ASCII, with \ and " escaped.
  const d = details.replace(/[^\x20-\x7e]/g, '?').replace(/[\\"]/g, (c) => '\\' + c).slice(0, 300)
  return `kit; error=${type}; details="${d}"`
}

function wantsJson(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true
  return /json|\*\/\*|application\/\*/i.test(accept)
}

function stripQuery(path: string | undefined): string | undefined {
  if (path === undefined) return undefined
  const q = path.search(/[?#]/)
  return q >= 0 ? path.slice(0, q) : path
}

/** A 403 for a policy decision. */
export function blockedResponse(decision: Decision, info: BlockedInfo, accept: string | undefined, type?: ProxyErrorType): Refusal {
  const rule = decision.rule ?? 'default-deny'
  const errType = type ?? (decision.rule === 'destination-ip-prohibited' ? 'destination_ip_prohibited' : 'http_request_denied')
  const hint = hintFor(decision, info.host ?? '', info.port ?? 443)
  const body = {
    error: 'blocked_by_policy',
    host: info.host ?? null,
    port: info.port ?? null,
    method: info.method ?? null,
    path: stripQuery(info.path) ?? null,
    rule,
    ...(decision.source ? {source: decision.source} : {}),
    reason: decision.reason,
    hint,
  }
  const json = wantsJson(accept)
  const text = json
    ? JSON.stringify(body) + '\n'
    : `Blocked by kit policy: ${info.method ?? 'CONNECT'} ${info.host ?? '?'}:${info.port ?? '?'}${body.path ?? ''}\nrule: ${rule}${decision.source ? ` (${decision.source})` : ''}\nreason: ${decision.reason}\nhint: ${hint}\n`
  return {
    status: 403,
    headers: [
      ['Proxy-Status', proxyStatus(errType, decision.reason)],
      ['X-Kit-Policy', headerSafe(rule)],
      ['Content-Type', json ? 'application/json' : 'text/plain; charset=utf-8'],
      ['Cache-Control', 'no-store'],
    ],
    body: text,
  }
}

/** An error the proxy met (bad request, upstream unreachable): status and Proxy-Status type. */
export function errorResponse(status: number, type: ProxyErrorType, message: string, accept: string | undefined): Refusal {
  const json = wantsJson(accept)
  const body = json ? JSON.stringify({error: type, message}) + '\n' : `kit proxy: ${message}\n`
  return {
    status,
    headers: [
      ['Proxy-Status', proxyStatus(type, message)],
      ['Content-Type', json ? 'application/json' : 'text/plain; charset=utf-8'],
      ['Cache-Control', 'no-store'],
    ],
    body,
  }
}

function headerSafe(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?')
}

const REASONS: Record<number, string> = {400: 'Bad Request', 403: 'Forbidden', 421: 'Misdirected Request', 431: 'Request Header Fields Too Large', 502: 'Bad Gateway', 504: 'Gateway Timeout'}

/** The refusal as raw HTTP/1.1 bytes, for a socket that has left the HTTP server (CONNECT). */
export function refusalBytes(r: Refusal): string {
  const lines = [`HTTP/1.1 ${r.status} ${REASONS[r.status] ?? 'Error'}`]
  for (const [k, v] of r.headers) lines.push(`${k}: ${v}`)
  lines.push(`Content-Length: ${Buffer.byteLength(r.body)}`, 'Connection: close', '', '')
  return lines.join('\r\n') + r.body
}
