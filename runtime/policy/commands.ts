// What the `kit policy` commands do, one function each.
import {createReadStream} from 'node:fs'
import {open, stat} from 'node:fs/promises'
import {createInterface} from 'node:readline'
import {checkUrl, effectivePolicy, type CheckResult} from './effective.js'
import {loadKitPolicies} from './kits.js'
import {addLocalRule, auditLogPath, initLocalPolicy, localPolicyPath, readLocalPolicy, type LocalPolicy} from './local-policy.js'
import type {ListedRule} from './policy.js'
import type {Tier} from './tiers.js'
import type {AuditEntry} from '../proxy/audit.js'

export async function policyInit(tier: Tier): Promise<LocalPolicy & {file: string}> {
  const p = await initLocalPolicy(tier)
  return {...p, file: localPolicyPath()}
}

export async function policyAdd(effect: 'allow' | 'deny', rule: string): Promise<{effect: string; rule: string; file: string}> {
  const text = await addLocalRule(effect, rule)
  return {effect, rule: text, file: localPolicyPath()}
}

export async function policyList(kits: readonly string[] = []): Promise<{tier: Tier; rules: ListedRule[]}> {
  const policy = await effectivePolicy({kits: await loadKitPolicies(kits)})
  return {tier: policy.tier, rules: policy.rules()}
}

export async function policyCheck(url: string, method: string, kits: readonly string[] = []): Promise<CheckResult> {
  const policy = await effectivePolicy({kits: await loadKitPolicies(kits)})
  return checkUrl(policy, url, method)
}

export async function localPolicy(): Promise<LocalPolicy> {
  return readLocalPolicy()
}

/**
 * Read the audit log: every entry (or the last `tail`), then, with `follow`, each new one as it
 * is appended, until `signal` aborts. Lines that are not JSON are skipped.
 */
export async function readAuditLog(
  opts: {file?: string; follow?: boolean; tail?: number; signal?: AbortSignal; onEntry?: (e: AuditEntry) => void} = {},
): Promise<AuditEntry[]> {
  const file = opts.file ?? auditLogPath()
  const entries: AuditEntry[] = []
  let offset = 0
  try {
    const rl = createInterface({input: createReadStream(file, {encoding: 'utf8'}), crlfDelay: Infinity})
    for await (const line of rl) {
      offset += Buffer.byteLength(line) + 1
      const e = parse(line)
      if (e) entries.push(e)
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
  const shown = opts.tail !== undefined ? entries.slice(-opts.tail) : entries
  for (const e of shown) opts.onEntry?.(e)
  if (!opts.follow) return shown
  // Follow: poll the file for growth (works across rotations of nothing fancy; the log only grows).
  let partial = ''
  while (!opts.signal?.aborted) {
    await new Promise((r) => setTimeout(r, 250))
    let size: number
    try {
      size = (await stat(file)).size
    } catch {
      continue
    }
    if (size < offset) offset = 0
    if (size === offset) continue
    const fh = await open(file, 'r')
    try {
      const buf = Buffer.alloc(size - offset)
      await fh.read(buf, 0, buf.length, offset)
      offset = size
      const text = partial + buf.toString('utf8')
      const lines = text.split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) {
        const e = parse(line)
        if (e) opts.onEntry?.(e)
      }
    } finally {
      await fh.close()
    }
  }
  return shown
}

function parse(line: string): AuditEntry | undefined {
  if (!line.trim()) return undefined
  try {
    return JSON.parse(line) as AuditEntry
  } catch {
    return undefined
  }
}

/** One audit entry as a line of text. */
export function formatAuditEntry(e: AuditEntry): string {
  if (e.kind === 'policy') {
    const list = (l: string[] | undefined) => (l?.length ? l.join(', ') : '-')
    return `${e.time} POLICY reloaded added: ${list(e.added)} removed: ${list(e.removed)}${e.sandbox ? ` sandbox=${e.sandbox}` : ''}`
  }
  const dest = e.host !== undefined ? `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}` : '-'
  const rule = e.rule ? ` rule=${e.rule}${e.source ? ` (${e.source})` : ''}` : ''
  const creds = e.credentials?.length ? ` injected=${e.credentials.join(',')}` : ''
  return `${e.time} ${e.decision.toUpperCase()} ${e.method ?? '-'} ${dest}${e.path ?? ''} ${e.status ?? '-'}${rule}${creds} up=${e.bytesUp} down=${e.bytesDown} ${e.durationMs}ms${e.sandbox ? ` sandbox=${e.sandbox}` : ''}`
}
