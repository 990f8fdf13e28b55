// Registry authentication: anonymous, HTTP Basic, and the bearer-token flow of the distribution
// spec (a 401 with `WWW-Authenticate: Bearer realm=...,service=...,scope=...` → a token from the
// realm, with Basic credentials, an identity (refresh) token, or none). Tokens are cached per
// host and set of scopes until they expire.
import type {Credential, CredentialSource} from './credentials.js'
import {HttpStatusError, RegistryClientError} from './errors.js'
import {discard, header, type HttpResponse, readText, send, type TlsOptions} from './http.js'

export interface Challenge {
  scheme: string
  params: Record<string, string>
}

/** Parses a WWW-Authenticate header (RFC 7235): several challenges, quoted or token params. */
export function parseChallenges(value: string): Challenge[] {
  const s = value
  const out: Challenge[] = []
  let i = 0
  const skip = (chars: string) => {
    while (i < s.length && chars.includes(s[i])) i++
  }
  const token = () => {
    const start = i
    while (i < s.length && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(s[i])) i++
    return s.slice(start, i)
  }
  /** At a `name=` (not a token68's trailing `==`)? Leaves i unchanged. */
  const atParam = () => {
    const save = i
    const name = token()
    skip(' \t')
    const yes = name !== '' && s[i] === '=' && s[i + 1] !== '='
    i = save
    return yes
  }
  while (i < s.length) {
    skip(' \t,')
    const scheme = token()
    if (scheme === '') break
    const challenge: Challenge = {scheme: scheme.toLowerCase(), params: {}}
    out.push(challenge)
    skip(' \t')
    if (!atParam()) {
      const m = /^[A-Za-z0-9\-._~+/]+=*/.exec(s.slice(i)) // token68
      if (m && !/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+\s/.test(s.slice(i))) i += m[0].length
      continue
    }
    while (atParam()) {
      const name = token().toLowerCase()
      skip(' \t')
      i++ // '='
      skip(' \t')
      let val = ''
      if (s[i] === '"') {
        i++
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++
          val += s[i++]
        }
        i++
      } else {
        val = token()
      }
      challenge.params[name] = val
      skip(' \t')
      if (s[i] !== ',') break
      i++
      skip(' \t,')
    }
  }
  return out
}

/** The scope for a repository and actions: "repository:team/x:pull,push". */
export function repositoryScope(repository: string, actions: string[]): string {
  return `repository:${repository}:${[...new Set(actions)].sort().join(',')}`
}

/** Merges scopes naming the same resource ("repository:a:pull" + "repository:a:push" → "repository:a:pull,push"). */
export function mergeScopes(scopes: string[]): string[] {
  const byResource = new Map<string, Set<string>>()
  for (const scope of scopes) {
    for (const one of scope.split(' ')) {
      if (one === '') continue
      const last = one.lastIndexOf(':')
      const resource = last < 0 ? one : one.slice(0, last)
      const actions = last < 0 ? [] : one.slice(last + 1).split(',').filter(Boolean)
      let set = byResource.get(resource)
      if (!set) byResource.set(resource, (set = new Set()))
      for (const a of actions) set.add(a)
    }
  }
  return [...byResource.entries()].map(([r, a]) => (a.size > 0 ? `${r}:${[...a].sort().join(',')}` : r)).sort()
}

interface CachedToken {
  token: string
  expiresAt: number
}

/** Process-wide token cache: host + scope set → token. */
const tokenCache = new Map<string, CachedToken>()
const inflight = new Map<string, Promise<string>>()

export interface AuthenticatorOptions {
  /** The registry name credentials are filed under ("docker.io", "localhost:5001"). */
  registry: string
  credentials?: CredentialSource
  tls?: TlsOptions
}

/** Authorization for one registry host. */
export class Authenticator {
  private scheme: 'none' | 'basic' | 'bearer' = 'none'
  private challenge: Record<string, string> = {}
  private credential: Credential | undefined | null = null

  constructor(private readonly opts: AuthenticatorOptions) {}

  private async getCredential(): Promise<Credential | undefined> {
    if (this.credential === null) this.credential = (await this.opts.credentials?.get(this.opts.registry)) ?? undefined
    return this.credential
  }

  /** The Authorization header for a request needing `scopes`, from what is known so far. */
  async header(scopes: string[]): Promise<string | undefined> {
    if (this.scheme === 'basic') {
      const cred = await this.getCredential()
      return cred?.username !== undefined && cred.password !== undefined ? basic(cred.username, cred.password) : undefined
    }
    if (this.scheme === 'bearer') {
      const cached = tokenCache.get(this.cacheKey(scopes))
      if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`
      return `Bearer ${await this.freshToken(scopes)}`
    }
    return undefined
  }

  /**
   * Handles a 401 (or a 403 insufficient_scope): learns the scheme from WWW-Authenticate and gets
   * fresh authorization. Returns false when nothing new can be tried (then the 401 stands).
   */
  async handleChallenge(res: HttpResponse, scopes: string[]): Promise<boolean> {
    const value = header(res, 'www-authenticate')
    const challenges = value ? parseChallenges(value) : []
    const bearer = challenges.find((c) => c.scheme === 'bearer')
    const basicChallenge = challenges.find((c) => c.scheme === 'basic')
    if (bearer && bearer.params.realm) {
      const extra = bearer.params.scope ? bearer.params.scope.split(' ') : []
      const wanted = mergeScopes([...scopes, ...extra])
      this.scheme = 'bearer'
      this.challenge = bearer.params
      const token = await this.freshToken(wanted)
      const cached = tokenCache.get(this.cacheKey(wanted))
      if (cached) tokenCache.set(this.cacheKey(scopes), {token, expiresAt: cached.expiresAt})
      return true
    }
    if (basicChallenge) {
      const cred = await this.getCredential()
      if (this.scheme === 'basic' || cred?.username === undefined || cred.password === undefined) return false
      this.scheme = 'basic'
      return true
    }
    return false
  }

  /** True once the registry asked for credentials and there are none. */
  async hasCredential(): Promise<boolean> {
    return (await this.getCredential()) !== undefined
  }

  private cacheKey(scopes: string[]): string {
    return `${this.opts.registry} ${this.challenge.realm ?? ''} ${this.challenge.service ?? ''} ${mergeScopes(scopes).join(' ')}`
  }

  /** One token request per scope set at a time: concurrent 401s share it. */
  private freshToken(scopes: string[]): Promise<string> {
    const key = this.cacheKey(scopes)
    let pending = inflight.get(key)
    if (!pending) {
      pending = this.fetchToken(scopes).finally(() => inflight.delete(key))
      inflight.set(key, pending)
    }
    return pending
  }

  private async fetchToken(scopes: string[]): Promise<string> {
    const realm = this.challenge.realm
    if (!realm) throw new RegistryClientError('AUTH', `${this.opts.registry}: bearer challenge without a realm`)
    const wanted = mergeScopes(scopes)
    const cred = await this.getCredential()
    if (cred?.registryToken) {
      tokenCache.set(this.cacheKey(wanted), {token: cred.registryToken, expiresAt: Date.now() + 3600_000})
      return cred.registryToken
    }
    const url = new URL(realm)
    let res: HttpResponse
    if (cred?.identityToken) {
      const form = new URLSearchParams({grant_type: 'refresh_token', refresh_token: cred.identityToken, client_id: 'kit'})
      if (this.challenge.service) form.set('service', this.challenge.service)
      if (wanted.length > 0) form.set('scope', wanted.join(' '))
      res = await send(
        {method: 'POST', url, headers: {'content-type': 'application/x-www-form-urlencoded'}, body: Buffer.from(form.toString())},
        this.opts.tls,
      )
    } else {
      if (this.challenge.service) url.searchParams.set('service', this.challenge.service)
      for (const scope of wanted) url.searchParams.append('scope', scope)
      const headers: Record<string, string> = {}
      if (cred?.username !== undefined && cred.password !== undefined) headers.authorization = basic(cred.username, cred.password)
      res = await send({method: 'GET', url, headers}, this.opts.tls)
    }
    if (res.status !== 200) {
      discard(res)
      throw new HttpStatusError(res.status, this.opts.registry, 'get a token for', `from ${url.origin}${url.pathname}${cred ? '' : '; no credentials: run kit login'}`)
    }
    let body: {token?: string; access_token?: string; expires_in?: number}
    try {
      body = JSON.parse(await readText(res)) as typeof body
    } catch {
      throw new RegistryClientError('AUTH', `${this.opts.registry}: the token endpoint ${url.origin}${url.pathname} returned no JSON`)
    }
    const token = body.token ?? body.access_token
    if (!token) throw new RegistryClientError('AUTH', `${this.opts.registry}: the token endpoint returned no token`)
    const lifetime = Math.max(60, body.expires_in ?? 60) * 1000
    tokenCache.set(this.cacheKey(wanted), {token, expiresAt: Date.now() + lifetime - 10_000})
    return token
  }
}

function basic(username: string, password: string): string {
  return 'Basic ' + Buffer.from(`${username}:${password}`).toString('base64')
}

/** Forgets every cached token (tests). */
export function clearTokenCache(): void {
  tokenCache.clear()
}
