// Name resolution happens here, on the host, never in the guest: the proxy resolves a name, checks
// every address it would use against the policy (special ranges, CIDR denies), and connects to the
// address it checked. `--connect-to HOST:PORT:ADDR:PORT` (as curl's) maps a name to a fixed
// address first; an explicit mapping is the one case where a loopback target is intended (test
// fixtures standing in for public hosts), so its target is not checked against special ranges.
import {lookup} from 'node:dns/promises'
import {isIP} from 'node:net'
import {normalizeHost, type NormalizedHost} from '../../kit-compiler/network-rules.js'
import type {Policy, PolicyDecision} from '../policy/policy.js'

export interface ConnectTo {
  /** The normalised host name or address; '' matches any host. */
  host: string
  /** 0 matches any port. */
  port: number
  /** Where to connect instead: an address or a name ('' keeps the host). */
  toHost: string
  /** 0 keeps the port. */
  toPort: number
}

export class ConnectToError extends Error {
  readonly code = 'E_CONNECT_TO'
  constructor(text: string, problem: string) {
    super(`bad --connect-to ${JSON.stringify(text)}: ${problem} (HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT)`)
    this.name = 'ConnectToError'
  }
}

function port(p: string, text: string): number {
  if (p === '') return 0
  if (!/^[0-9]{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) throw new ConnectToError(text, `bad port ${JSON.stringify(p)}`)
  return Number(p)
}

const CONNECT_TO = /^(\[[^\]]*\]|[^:[\]]*):([0-9]*):(\[[^\]]*\]|[^:[\]]*):([0-9]*)$/

export function parseConnectTo(text: string): ConnectTo {
  const m = CONNECT_TO.exec(text)
  if (!m) throw new ConnectToError(text, 'expected four fields')
  const unbracket = (s: string) => s.replace(/^\[(.*)\]$/, '$1')
  const host = unbracket(m[1]!)
  const toHost = unbracket(m[3]!)
  let h = ''
  if (host !== '') {
    try {
      const n = normalizeHost(host)
      h = n.kind === 'name' ? n.name : n.address
    } catch (e) {
      throw new ConnectToError(text, (e as Error).message)
    }
  }
  if (toHost !== '' && isIP(toHost) === 0 && !/^[A-Za-z0-9.-]+$/.test(toHost)) throw new ConnectToError(text, `bad target host ${JSON.stringify(toHost)}`)
  return {host: h, port: port(m[2]!, text), toHost, toPort: port(m[4]!, text)}
}

export type Resolution =
  | {ok: true; address: string; port: number; family: 4 | 6; mapped: boolean}
  | {ok: false; kind: 'prohibited'; decision: PolicyDecision}
  | {ok: false; kind: 'dns'; notFound: boolean; message: string}

export type LookupFn = (name: string) => Promise<Array<{address: string; family: number}>>

const systemLookup: LookupFn = (name) => lookup(name, {all: true, verbatim: true})

/** How long a name's addresses are reused. Every use is checked against the policy again. */
const CACHE_MS = 5_000

export class Resolver {
  private readonly cache = new Map<string, {addrs: Array<{address: string; family: number}>; until: number}>()

  constructor(
    private readonly connectTo: readonly ConnectTo[] = [],
    private readonly lookupFn: LookupFn = systemLookup,
  ) {}

  /** Where to connect for a request to host:port that the policy allowed. */
  async resolve(host: NormalizedHost, port: number, policy: Policy): Promise<Resolution> {
    const key = host.kind === 'name' ? host.name : host.address
    const map = this.connectTo.find((c) => (c.host === '' || c.host === key) && (c.port === 0 || c.port === port))
    if (map) {
      const toPort = map.toPort || port
      const toHost = map.toHost || key
      if (isIP(toHost) !== 0) return {ok: true, address: toHost, port: toPort, family: isIP(toHost) as 4 | 6, mapped: true}
      const addrs = await this.lookup(toHost)
      if (!Array.isArray(addrs)) return addrs
      const a = addrs[0]!
      return {ok: true, address: a.address, port: toPort, family: a.family as 4 | 6, mapped: true}
    }
    if (host.kind === 'ip') {
      const refused = policy.checkResolvedAddress(host.address, port)
      if (refused) return {ok: false, kind: 'prohibited', decision: refused}
      return {ok: true, address: host.address, port, family: host.family, mapped: false}
    }
    const addrs = await this.lookup(host.name)
    if (!Array.isArray(addrs)) return addrs
    let firstRefusal: PolicyDecision | undefined
    for (const a of addrs) {
      const refused = policy.checkResolvedAddress(a.address, port)
      if (!refused) return {ok: true, address: a.address, port, family: a.family as 4 | 6, mapped: false}
      firstRefusal ??= refused
    }
    return {ok: false, kind: 'prohibited', decision: firstRefusal!}
  }

  private async lookup(name: string): Promise<Array<{address: string; family: number}> | Resolution> {
    const hit = this.cache.get(name)
    if (hit && hit.until > Date.now()) return hit.addrs
    try {
      const addrs = await this.lookupFn(name)
      if (addrs.length === 0) return {ok: false, kind: 'dns', notFound: true, message: `${name} has no address`}
      if (this.cache.size >= 1024) this.cache.clear()
      this.cache.set(name, {addrs, until: Date.now() + CACHE_MS})
      return addrs
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      const notFound = code === 'ENOTFOUND' || code === 'ENODATA'
      return {ok: false, kind: 'dns', notFound, message: `cannot resolve ${name}: ${code ?? (e as Error).message}`}
    }
  }
}
