import {Args} from '@oclif/core'
import {policyInit} from '../../../runtime/policy/commands.js'
import {TIERS, type Tier} from '../../../runtime/policy/tiers.js'
import {KitCommand} from '../../base.js'

export default class PolicyInit extends KitCommand {
  static override description = 'Set the local policy tier: allow-all (every name on ports 80/443), balanced (a curated list) or deny-all. Local rules are kept.'
  static override args = {tier: Args.string({description: 'the tier', required: true, options: [...TIERS]})}

  async run(): Promise<{tier: Tier; allow: string[]; deny: string[]; file: string}> {
    const {args} = await this.parse(PolicyInit)
    const p = await policyInit(args.tier as Tier)
    if (!this.jsonEnabled()) this.log(`policy tier ${p.tier} (${p.file})`)
    return {tier: p.tier, allow: p.allow, deny: p.deny, file: p.file}
  }
}
