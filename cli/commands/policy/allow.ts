import {Args} from '@oclif/core'
import {policyAdd} from '../../../runtime/policy/commands.js'
import {KitCommand} from '../../base.js'

export default class PolicyAllow extends KitCommand {
  static override description = 'Add a local allow rule (host, *.host, **.host, host:port, host:lo-hi, CIDR, [IPv6]:port, **; optional methods and path).'
  static override examples = ["<%= config.bin %> policy allow 'api.example.com:8443'", "<%= config.bin %> policy allow '**.tracker.example'"]
  static override args = {rule: Args.string({description: 'the rule', required: true})}

  async run(): Promise<{effect: string; rule: string; file: string}> {
    const {args} = await this.parse(PolicyAllow)
    const r = await policyAdd('allow', args.rule)
    if (!this.jsonEnabled()) this.log(`allow ${r.rule} (local, ${r.file})`)
    return r
  }
}
