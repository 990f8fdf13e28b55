import {Args, Flags} from '@oclif/core'
import {printLogs} from '../../runtime/sandbox/stats.js'
import {KitCommand} from '../base.js'

export default class Logs extends KitCommand {
  static override description = "Print a sandbox's logs: the guest setup log and the egress audit log (every request its proxy allowed or blocked, with the rule)."
  static override examples = ['<%= config.bin %> logs demo', '<%= config.bin %> logs demo --egress --follow']
  static override args = {name: Args.string({description: 'sandbox name', required: true})}
  static override flags = {
    follow: Flags.boolean({char: 'f', description: 'keep printing new lines until interrupted'}),
    egress: Flags.boolean({description: 'only the egress audit log', exclusive: ['setup']}),
    setup: Flags.boolean({description: 'only the setup log', exclusive: ['egress']}),
  }

  async run(): Promise<{name: string}> {
    const {args, flags} = await this.parse(Logs)
    await printLogs(args.name, {which: flags.egress ? 'egress' : flags.setup ? 'setup' : 'all', follow: flags.follow, json: this.jsonEnabled(), out: process.stdout})
    return {name: args.name}
  }

  // --json prints the log lines as JSON lines; no trailing object.
  protected override logJson(): void {}
}
