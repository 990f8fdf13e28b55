// What a kit brings to the policy proxy: its network rules (as a layer named `kit NAME`) and its
// credentials (inject rules per service). Written against the normalised v2 kit model
// (kit-compiler/load.ts), structurally, so any KitSpec with these fields fits.
import type {RuleLayer} from './policy.js'

export interface InjectRule {
  domain: string
  header?: string
  format?: string
  scheme?: 'bearer' | 'basic'
  username?: string
}

/** A credential a kit declares: the service (secret name), the guest env var, where to inject. */
export interface KitCredential {
  service: string
  /** The environment variable the guest sees (apiKey.name). */
  envName?: string
  proxyManaged?: boolean
  inject: InjectRule[]
  /** The kit that declared it. */
  kit?: string
}

/** The part of a kit spec the proxy reads. */
export interface KitPolicyShape {
  name: string
  permissions?: {network?: {allow?: readonly string[]; deny?: readonly string[]}}
  credentials?: ReadonlyArray<{
    service: string
    apiKey?: {name?: string; proxyManaged?: boolean; inject?: readonly InjectRule[]}
  }>
}

export interface KitPolicy {
  layer: RuleLayer
  credentials: KitCredential[]
}

export function policyFromKit(spec: KitPolicyShape): KitPolicy {
  const network = spec.permissions?.network
  const layer: RuleLayer = {source: `kit ${spec.name}`, allow: [...(network?.allow ?? [])], deny: [...(network?.deny ?? [])]}
  const credentials: KitCredential[] = []
  for (const c of spec.credentials ?? []) {
    if (!c.apiKey) continue
    const cred: KitCredential = {service: c.service, inject: [...(c.apiKey.inject ?? [])], kit: spec.name}
    if (c.apiKey.name !== undefined) cred.envName = c.apiKey.name
    if (c.apiKey.proxyManaged !== undefined) cred.proxyManaged = c.apiKey.proxyManaged
    credentials.push(cred)
  }
  return {layer, credentials}
}
