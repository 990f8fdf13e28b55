import {Args} from '@oclif/core'
import {policyAdd} from '../../../runtime/policy/commands.js'
import {KitCommand} from '../../base.js'

export default class PolicyDeny extends KitCommand {
  static override description = 'Add a local deny rule (host, *.host, **.host, host:port, host:lo-hi, CIDR, [IPv6]:port, **; optional methods and path).'
  static override examples = ["<%= config.bin %> policy deny 'api.example.com:8443'", "<%= config.bin %> policy deny '**.tracker.example'"]
  static override args = {rule: Args.string({description: 'the rule', required: true})}

  async run(): Promise<{effect: string; rule: string; file: string}> {
    const {args} = await this.parse(PolicyDeny)
    const r = await policyAdd('deny', args.rule)
    if (!this.jsonEnabled()) this.log(`deny ${r.rule} (local, ${r.file})`)
    return r
  }
}
