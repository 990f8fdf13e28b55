import {Args} from '@oclif/core'
import {setSetting} from '../../../runtime/config.js'
import {KitCommand} from '../../base.js'

export default class ConfigSet extends KitCommand {
  static override description = 'Set a setting in $KIT_HOME/config.json (lists: a JSON array or comma-separated).'
  static override examples = ["<%= config.bin %> config set kit.allowedSources 'registry.example.com/team,ghcr.io/acme'"]
  static override args = {
    key: Args.string({description: 'setting name', required: true}),
    value: Args.string({description: 'value', required: true}),
  }

  async run(): Promise<{key: string; value: unknown}> {
    const {args} = await this.parse(ConfigSet)
    const value = await setSetting(args.key, args.value)
    if (!this.jsonEnabled()) this.log(`${args.key} = ${JSON.stringify(value)}`)
    return {key: args.key, value}
  }
}
