// Requests to one registry: picks the scheme (https; http with plainHttp; loopback probes https
// then falls back to http, as docker does), adds authorization, follows redirects (dropping
// Authorization when the origin changes) and retries what can be retried (retry.ts).
import type {Readable} from 'node:stream'
import {Authenticator} from './auth.js'
import type {CredentialSource} from './credentials.js'
import {HttpStatusError, NetworkError} from './errors.js'
import {discard, header, type HttpResponse, readText, send, type TlsOptions} from './http.js'
import {isLoopbackHost} from './reference.js'
import {
  backoffMs,
  DEFAULT_RETRY_POLICY,
  isRetryableNetworkError,
  isRetryableStatus,
  markRetryable,
  retryAfterMs,
  type RetryPolicy,
  sleep,
} from './retry.js'

export interface ClientOptions {
  /** true: http; false: https; undefined: https, except loopback hosts, which fall back to http. */
  plainHttp?: boolean
  tls?: TlsOptions
  credentials?: CredentialSource
  retry?: Partial<RetryPolicy>
}

export interface Call {
  method: string
  /** A path under the registry ("/v2/...") or an absolute URL (an upload Location). */
  path: string
  headers?: Record<string, string>
  body?: Buffer | Readable
  scopes: string[]
  /** For errors: the reference or repository concerned. */
  reference: string
  /** For errors: what was being done ("push blob sha256:..."). */
  operation: string
  /** Statuses the caller handles; anything else becomes an HttpStatusError. */
  expect: number[]
}

const MAX_REDIRECTS = 5
const clients = new Map<string, RegistryClient>()

export class RegistryClient {
  private base: Promise<URL> | undefined
  readonly auth: Authenticator
  readonly policy: RetryPolicy
  /** Set once the registry refused a monolithic blob upload: later uploads go in chunks. */
  monolithicRefused = false

  constructor(
    /** host[:port] of the API. */
    readonly host: string,
    /** The registry name credentials are filed under. */
    readonly registry: string,
    readonly opts: ClientOptions = {},
  ) {
    this.auth = new Authenticator({registry, credentials: opts.credentials, tls: opts.tls})
    this.policy = {...DEFAULT_RETRY_POLICY, ...(opts.retry ?? {})}
  }

  /** One client per host and option set, so tokens and the scheme probe are shared. */
  static for(host: string, registry: string, opts: ClientOptions = {}): RegistryClient {
    const key = JSON.stringify([host, registry, opts.plainHttp, opts.tls?.insecureSkipVerify, String(opts.tls?.ca ?? ''), opts.retry])
    let client = clients.get(key)
    if (!client || client.opts.credentials !== opts.credentials) {
      client = new RegistryClient(host, registry, opts)
      clients.set(key, client)
    }
    return client
  }

  /** The base URL, probing the scheme once for loopback registries. */
  baseUrl(): Promise<URL> {
    if (!this.base) {
      this.base = (async () => {
        if (this.opts.plainHttp === true) return new URL(`http://${this.host}`)
        const https = new URL(`https://${this.host}`)
        if (this.opts.plainHttp === false || !isLoopbackHost(this.host)) return https
        try {
          const res = await send({method: 'GET', url: new URL('/v2/', https)}, this.opts.tls)
          discard(res)
          return https
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code ?? ''
          if (/EPROTO|SSL|ECONNRESET|wrong version/i.test(code + ' ' + (err as Error).message)) return new URL(`http://${this.host}`)
          return https
        }
      })()
      this.base.catch(() => (this.base = undefined))
    }
    return this.base
  }

  /** Sends `call`, with auth, redirects and retries; returns a response whose status is in `expect`. */
  async request(call: Call): Promise<HttpResponse> {
    const base = await this.baseUrl()
    const replayable = call.body === undefined || Buffer.isBuffer(call.body)
    let attempt = 0
    let reauthed = false
    for (;;) {
      let url = new URL(call.path, base)
      let res: HttpResponse
      let redirects = 0
      try {
        for (;;) {
          const headers: Record<string, string> = {...(call.headers ?? {})}
          if (url.origin === base.origin) {
            const authorization = await this.auth.header(call.scopes)
            if (authorization) headers.authorization = authorization
          }
          res = await send({method: call.method, url, headers, body: call.body}, this.opts.tls)
          const location = header(res, 'location')
          if ([301, 302, 303, 307, 308].includes(res.status) && location && !call.expect.includes(res.status)) {
            if (++redirects > MAX_REDIRECTS) {
              discard(res)
              throw new HttpStatusError(res.status, call.reference, call.operation, `more than ${MAX_REDIRECTS} redirects (last to ${new URL(location, url).origin}); a redirect loop?`)
            }
            if (!replayable && call.method !== 'GET' && call.method !== 'HEAD') break
            discard(res)
            url = new URL(location, url)
            continue
          }
          break
        }
      } catch (err) {
        if (err instanceof HttpStatusError) throw err
        if (isRetryableNetworkError(err)) {
          if (replayable && attempt < this.policy.retries) {
            await sleep(backoffMs(attempt++, this.policy))
            continue
          }
          const e = new NetworkError(call.reference, call.operation, err)
          throw replayable ? e : markRetryable(e)
        }
        throw new NetworkError(call.reference, call.operation, err)
      }
      if (call.expect.includes(res.status)) return res
      if (res.status === 401 || (res.status === 403 && (await insufficientScope(res)))) {
        if (!reauthed) {
          reauthed = true
          discard(res)
          if (await this.auth.handleChallenge(res, call.scopes)) {
            if (replayable) continue
            throw markRetryable(new HttpStatusError(res.status, call.reference, call.operation, 'authorization renewed; retry'))
          }
        }
        discard(res)
        const hint = (await this.auth.hasCredential()) ? 'credentials rejected' : `no credentials for ${this.registry}: run kit login ${this.registry} or set KIT_REGISTRY_AUTH`
        throw new HttpStatusError(res.status, call.reference, call.operation, hint)
      }
      if (isRetryableStatus(res.status)) {
        const after = retryAfterMs(header(res, 'retry-after'))
        discard(res)
        if (replayable && attempt < this.policy.retries && (after === undefined || after <= this.policy.maxRetryAfterMs)) {
          await sleep(after ?? backoffMs(attempt, this.policy))
          attempt++
          continue
        }
        const detail =
          after !== undefined && after > this.policy.maxRetryAfterMs
            ? `the registry asks to wait ${formatWait(after)} (Retry-After), longer than kit waits (${formatWait(this.policy.maxRetryAfterMs)}); try again later`
            : attempt > 0
              ? `after ${attempt + 1} attempts`
              : undefined
        const e = new HttpStatusError(res.status, call.reference, call.operation, detail)
        throw replayable ? e : markRetryable(e)
      }
      throw new HttpStatusError(res.status, call.reference, call.operation, await errorDetail(res))
    }
  }
}

function formatWait(ms: number): string {
  const s = Math.ceil(ms / 1000)
  if (s < 120) return `${s} s`
  if (s < 7200) return `${Math.round(s / 60)} min`
  return `${Math.round(s / 3600)} h`
}

async function insufficientScope(res: HttpResponse): Promise<boolean> {
  const value = header(res, 'www-authenticate') ?? ''
  return /insufficient_scope/i.test(value)
}

/** The first error of a registry's JSON error body ("MANIFEST_UNKNOWN: manifest unknown"). */
async function errorDetail(res: HttpResponse): Promise<string | undefined> {
  if (res.headers['content-length'] === undefined && res.status === 404) {
    discard(res)
    return undefined
  }
  try {
    const text = await readText(res, 64 * 1024)
    const body = JSON.parse(text) as {errors?: Array<{code?: string; message?: string}>}
    const first = body.errors?.[0]
    if (first) return [first.code, first.message].filter(Boolean).join(': ')
  } catch {
    // not JSON: no detail
  }
  return undefined
}
