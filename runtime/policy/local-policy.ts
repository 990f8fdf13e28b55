// The local policy (KIT_HOME/policy.json: the tier and the rules a user added with `kit policy
// allow|deny`) and the org policy (KIT_ORG_POLICY, else /etc/kit/network-policy.json: {"deny": [...],
// "allowCeiling": [...]}; read-only here).
// Without a policy.json the tier is deny-all: nothing is allowed until someone says so.
import {mkdir, readFile, rename, writeFile} from 'node:fs/promises'
import {dirname, join} from 'node:path'
import {parseNetworkRule, type RuleEffect} from '../../kit-compiler/network-rules.js'
import {kitHome} from '../home.js'
import {isTier, type Tier} from './tiers.js'
import type {OrgPolicy} from './policy.js'

export interface LocalPolicy {
  version: 1
  tier: Tier
  allow: string[]
  deny: string[]
}

export class PolicyFileError extends Error {
  readonly code = 'E_POLICY_FILE'
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`)
    this.name = 'PolicyFileError'
  }
}

export function localPolicyPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(kitHome(env), 'policy.json')
}

/** The org floor lives outside the user's KIT_HOME (a user must not be able to edit it away). */
export function orgPolicyPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.KIT_ORG_POLICY || '/etc/kit/network-policy.json'
}

/** The default audit log of `kit proxy` (and what `kit policy log` reads). */
export function auditLogPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(kitHome(env), 'logs', 'policy.jsonl')
}

async function readJson(file: string): Promise<unknown | undefined> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
  try {
    return JSON.parse(text)
  } catch (e) {
    throw new PolicyFileError(file, `not JSON: ${(e as Error).message}`)
  }
}

function stringList(file: string, v: unknown, key: string): string[] {
  if (v === undefined) return []
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new PolicyFileError(file, `"${key}" must be a list of strings`)
  return v as string[]
}

export async function readLocalPolicy(env: NodeJS.ProcessEnv = process.env): Promise<LocalPolicy> {
  const file = localPolicyPath(env)
  const raw = await readJson(file)
  if (raw === undefined) return {version: 1, tier: 'deny-all', allow: [], deny: []}
  if (typeof raw !== 'object' || raw === null) throw new PolicyFileError(file, 'not an object')
  const o = raw as Record<string, unknown>
  const tier = o.tier ?? 'deny-all'
  if (typeof tier !== 'string' || !isTier(tier)) throw new PolicyFileError(file, `unknown tier ${JSON.stringify(tier)}`)
  return {version: 1, tier, allow: stringList(file, o.allow, 'allow'), deny: stringList(file, o.deny, 'deny')}
}

async function writeLocalPolicy(p: LocalPolicy, env: NodeJS.ProcessEnv): Promise<void> {
  const file = localPolicyPath(env)
  await mkdir(dirname(file), {recursive: true})
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, JSON.stringify(p, null, 2) + '\n', {mode: 0o644})
  await rename(tmp, file)
}

/** `kit policy init TIER`: set the tier, keep the local rules. */
export async function initLocalPolicy(tier: Tier, env: NodeJS.ProcessEnv = process.env): Promise<LocalPolicy> {
  const p = await readLocalPolicy(env)
  p.tier = tier
  await writeLocalPolicy(p, env)
  return p
}

/** `kit policy allow|deny RULE`: validate, store the canonical text once. Returns it. */
export async function addLocalRule(effect: RuleEffect, text: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const rule = parseNetworkRule(text, effect)
  const p = await readLocalPolicy(env)
  const list = effect === 'allow' ? p.allow : p.deny
  if (!list.includes(rule.text)) list.push(rule.text)
  await writeLocalPolicy(p, env)
  return rule.text
}

/** Remove a local rule (given in any spelling that canonicalises to it). Returns whether it was there. */
export async function removeLocalRule(effect: RuleEffect, text: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const rule = parseNetworkRule(text, effect)
  const p = await readLocalPolicy(env)
  const key = effect === 'allow' ? 'allow' : 'deny'
  const before = p[key].length
  p[key] = p[key].filter((t) => t !== rule.text)
  if (p[key].length === before) return false
  await writeLocalPolicy(p, env)
  return true
}

export async function readOrgPolicy(env: NodeJS.ProcessEnv = process.env): Promise<OrgPolicy | undefined> {
  const file = orgPolicyPath(env)
  const raw = await readJson(file)
  if (raw === undefined) return undefined
  if (typeof raw !== 'object' || raw === null) throw new PolicyFileError(file, 'not an object')
  const o = raw as Record<string, unknown>
  const org: OrgPolicy = {deny: stringList(file, o.deny, 'deny')}
  if (o.allowCeiling !== undefined) org.allowCeiling = stringList(file, o.allowCeiling, 'allowCeiling')
  return org
}
