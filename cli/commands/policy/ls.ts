import {Flags} from '@oclif/core'
import {policyList} from '../../../runtime/policy/commands.js'
import type {ListedRule} from '../../../runtime/policy/policy.js'
import {KitCommand} from '../../base.js'

export default class PolicyLs extends KitCommand {
  static override description = 'List the rules in force, each with its source: org, tier, local, kit NAME.'
  static override flags = {
    kit: Flags.string({description: 'Also show the rules of this kit (directory or store reference; repeatable).', multiple: true}),
  }

  async run(): Promise<{tier: string; rules: ListedRule[]}> {
    const {flags} = await this.parse(PolicyLs)
    const r = await policyList(flags.kit ?? [])
    if (!this.jsonEnabled()) {
      this.log(`tier: ${r.tier}`)
      const width = Math.max(5, ...r.rules.map((x) => x.rule.length))
      for (const x of r.rules) this.log(`${x.effect.padEnd(7)} ${x.rule.padEnd(width)}  ${x.source}`)
      if (r.rules.length === 0) this.log('no rules: everything is denied')
    }
    return r
  }
}
