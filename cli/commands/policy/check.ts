import {Args, Flags} from '@oclif/core'
import {policyCheck} from '../../../runtime/policy/commands.js'
import type {CheckResult} from '../../../runtime/policy/effective.js'
import {KitCommand} from '../../base.js'

export default class PolicyCheck extends KitCommand {
  static override description = 'Show the decision for a request and the rule that makes it (exit 0 either way).'
  static override examples = ['<%= config.bin %> policy check https://api.github.com/repos/x --method DELETE --kit ./my-kit']
  static override args = {url: Args.string({description: 'an absolute http(s) URL', required: true})}
  static override flags = {
    method: Flags.string({description: 'The request method.', default: 'GET'}),
    kit: Flags.string({description: 'A kit (directory or store reference) whose rules apply too (repeatable).', multiple: true}),
  }

  async run(): Promise<CheckResult> {
    const {args, flags} = await this.parse(PolicyCheck)
    const r = await policyCheck(args.url, flags.method, flags.kit ?? [])
    if (!this.jsonEnabled()) {
      const rule = r.rule ? `rule ${r.rule}${r.source ? ` (${r.source})` : ''}` : 'default-deny'
      this.log(`${r.action} ${r.method} ${r.url}: ${rule}: ${r.reason}`)
    }
    return r
  }
}
