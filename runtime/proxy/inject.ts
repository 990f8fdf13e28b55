// Credential injection. The guest never holds a real secret: for a kit credential whose secret is
// bound, the guest's env var holds a placeholder and the proxy overwrites the declared header on
// requests to the inject domains (and only there). A custom secret (bound to host patterns with
// `kit secret set NAME --host ...`) gets a random placeholder that the proxy replaces in the
// headers the binding names (`--header`, default Authorization), for the hosts it is bound to
// only; in any other header, or sent anywhere else, the placeholder goes out as is. Every value
// injected is also handed back (`redact`) so the proxy can take it out of the response.
// Injection happens only on connections the proxy terminates with TLS and re-encrypts upstream: a
// real value is never sent in clear text.
import {randomBytes} from 'node:crypto'
import {matchDestination, parseNetworkRule, type NetworkRule, type NormalizedHost} from '../../kit-compiler/network-rules.js'
import type {InjectRule, KitCredential} from '../policy/from-kit.js'
import type {SecretSource} from '../secrets/store.js'
import {secretForms, type SecretPair} from './redact.js'

/** The in-guest value of a kit credential's env var when its secret is bound (as sbx's). */
export const PROXY_MANAGED = 'proxy-managed'

export interface CustomSecret {
  name: string
  /** Host patterns (network-rule syntax, no methods or paths). */
  hosts: string[]
  /** The guest env var; default: the name upper-cased with "-" as "_". */
  env?: string
  /** The request headers the placeholder is replaced in; default Authorization. */
  headers?: string[]
}

/** Where a custom placeholder is replaced when its binding names no header. */
export const DEFAULT_CUSTOM_HEADERS = ['Authorization']

export class InjectConfigError extends Error {
  readonly code = 'E_INJECT_CONFIG'
  constructor(message: string) {
    super(message)
    this.name = 'InjectConfigError'
  }
}

interface HeaderOp {
  service: string
  header: string
  /** The whole header value, secret included. */
  value: string
  /** What to take out of responses. */
  redact: SecretPair[]
}

interface BoundInject {
  rule: NetworkRule
  op: HeaderOp
}

interface BoundCustom {
  name: string
  rules: NetworkRule[]
  placeholder: string
  value: string
  env: string
  /** Lower-case header names the placeholder is replaced in. */
  headers: Set<string>
  redact: SecretPair[]
}

export interface InjectionResult {
  /** The request headers after injection (flat [name, value, ...] list). */
  headers: string[]
  /** Services injected, for the audit log. */
  services: string[]
  /** The values injected and their placeholders, for response redaction. */
  redact: SecretPair[]
}

function headerValue(inj: InjectRule, secret: string, where: string): {header: string; value: string} {
  if (inj.scheme === 'basic') {
    if (!inj.username) throw new InjectConfigError(`${where}: scheme basic needs a username`)
    return {header: inj.header ?? 'Authorization', value: 'Basic ' + Buffer.from(`${inj.username}:${secret}`).toString('base64')}
  }
  if (inj.scheme === 'bearer') {
    return {header: inj.header ?? 'Authorization', value: `Bearer ${secret}`}
  }
  if (!inj.header) throw new InjectConfigError(`${where}: an inject rule needs a header (or a scheme)`)
  const format = inj.format ?? '%s'
  if (format.split('%s').length !== 2) throw new InjectConfigError(`${where}: format must contain exactly one %s`)
  return {header: inj.header, value: format.replace('%s', () => secret)}
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

export class Injector {
  private constructor(
    private readonly injects: BoundInject[],
    private readonly customs: BoundCustom[],
    private readonly env: Record<string, string>,
  ) {}

  /**
   * Resolve the secrets of the credentials that have one bound. Credentials without a bound
   * secret are left out entirely: no placeholder in the guest, no header touched.
   */
  static async create(
    credentials: readonly KitCredential[],
    customSecrets: readonly CustomSecret[],
    secrets: SecretSource | undefined,
    /** Placeholders of custom secrets to reuse (by secret name), e.g. from computeGuestEnv. */
    placeholders: Readonly<Record<string, string>> = {},
  ): Promise<Injector> {
    const injects: BoundInject[] = []
    const customs: BoundCustom[] = []
    const env: Record<string, string> = {}
    for (const c of credentials) {
      const value = secrets ? await secrets.get(c.service) : undefined
      if (value === undefined || value === '' || /[\u0000-\u001f\u007f]/.test(value)) continue
      for (const inj of c.inject) {
        const where = `credential ${c.service}${c.kit ? ` (kit ${c.kit})` : ''}, inject ${inj.domain}`
        let rule: NetworkRule
        try {
          rule = parseNetworkRule(inj.domain, 'allow')
        } catch (e) {
          throw new InjectConfigError(`${where}: ${(e as Error).message}`)
        }
        const {header, value: v} = headerValue(inj, value, where)
        if (!TOKEN.test(header)) throw new InjectConfigError(`${where}: ${JSON.stringify(header)} is not a header name`)
        // The value as sent (a Basic credential carries it base64-encoded) and the bare secret.
        const shown = headerValue(inj, PROXY_MANAGED, where).value
        const redact = [...secretForms(v, shown), ...secretForms(value, PROXY_MANAGED)]
        if (inj.scheme === 'basic') redact.push({secret: v.slice('Basic '.length), placeholder: shown.slice('Basic '.length)})
        injects.push({rule, op: {service: c.service, header, value: v, redact}})
      }
      if (c.envName) env[c.envName] = PROXY_MANAGED
    }
    for (const s of customSecrets) {
      const value = secrets ? await secrets.get(s.name) : undefined
      if (value === undefined || value === '' || /[\u0000-\u001f\u007f]/.test(value)) continue
      const rules = s.hosts.map((h) => parseNetworkRule(h, 'allow'))
      const given = placeholders[s.name]
      if (given !== undefined && !/^[A-Za-z0-9._~-]{16,200}$/.test(given)) throw new InjectConfigError(`placeholder for ${s.name}: 16-200 URL-safe characters`)
      const placeholder = given ?? `kit-placeholder-${s.name}-${randomBytes(16).toString('hex')}`
      const envName = s.env ?? s.name.toUpperCase().replace(/-/g, '_')
      const headers = s.headers && s.headers.length > 0 ? s.headers : DEFAULT_CUSTOM_HEADERS
      for (const h of headers) if (!TOKEN.test(h)) throw new InjectConfigError(`custom secret ${s.name}: ${JSON.stringify(h)} is not a header name`)
      customs.push({name: s.name, rules, placeholder, value, env: envName, headers: new Set(headers.map((h) => h.toLowerCase())), redact: secretForms(value, placeholder)})
      env[envName] = placeholder
    }
    return new Injector(injects, customs, env)
  }

  static empty(): Injector {
    return new Injector([], [], {})
  }

  /** The env vars the guest gets: placeholders for bound secrets only. */
  guestEnv(): Record<string, string> {
    return {...this.env}
  }

  /** The placeholders of custom secrets, by secret name (to hand to another Injector or proxy). */
  placeholders(): Record<string, string> {
    return Object.fromEntries(this.customs.map((c) => [c.name, c.placeholder]))
  }

  /** Whether requests to host:port need the proxy to terminate TLS for injection. */
  needsIntercept(host: NormalizedHost, port: number): boolean {
    return (
      this.injects.some((i) => matchDestination(i.rule, host, port)) ||
      this.customs.some((c) => c.rules.some((r) => matchDestination(r, host, port)))
    )
  }

  /**
   * Apply injection to a request's headers (a flat raw list) bound for host:port. Call only for
   * requests that go upstream over TLS.
   */
  apply(host: NormalizedHost, port: number, rawHeaders: string[]): InjectionResult {
    const ops = this.injects.filter((i) => matchDestination(i.rule, host, port)).map((i) => i.op)
    const customs = this.customs.filter((c) => c.rules.some((r) => matchDestination(r, host, port)))
    if (ops.length === 0 && customs.length === 0) return {headers: rawHeaders, services: [], redact: []}
    const services = new Set<string>()
    const redact: SecretPair[] = []
    const overwritten = new Set(ops.map((o) => o.header.toLowerCase()))
    const out: string[] = []
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!
      let value = rawHeaders[i + 1]!
      if (overwritten.has(name.toLowerCase())) continue
      for (const c of customs) {
        if (c.headers.has(name.toLowerCase()) && value.includes(c.placeholder)) {
          value = value.split(c.placeholder).join(c.value)
          if (!services.has(c.name)) redact.push(...c.redact)
          services.add(c.name)
        }
      }
      out.push(name, value)
    }
    // The declared header, once, with the real value (the last rule for a header wins).
    const byHeader = new Map<string, HeaderOp>()
    for (const o of ops) byHeader.set(o.header.toLowerCase(), o)
    for (const o of byHeader.values()) {
      out.push(o.header, o.value)
      services.add(o.service)
      redact.push(...o.redact)
    }
    return {headers: out, services: [...services], redact}
  }
}

/**
 * The guest env of a sandbox before its proxy starts: kit credentials with a bound secret get
 * `proxy-managed`, custom secrets a fresh random placeholder; unbound ones get nothing. Pass
 * `placeholders` to startProxy so the proxy replaces the same values.
 */
export async function computeGuestEnv(
  credentials: readonly KitCredential[],
  customSecrets: readonly CustomSecret[],
  secrets: SecretSource | undefined,
): Promise<{env: Record<string, string>; placeholders: Record<string, string>}> {
  const i = await Injector.create(credentials, customSecrets, secrets)
  return {env: i.guestEnv(), placeholders: i.placeholders()}
}
