import {Args} from '@oclif/core'
import {unsetSetting} from '../../../runtime/config.js'
import {KitCommand} from '../../base.js'

export default class ConfigUnset extends KitCommand {
  static override description = 'Remove a setting from $KIT_HOME/config.json (back to its default).'
  static override args = {key: Args.string({description: 'setting name', required: true})}

  async run(): Promise<{key: string; removed: boolean}> {
    const {args} = await this.parse(ConfigUnset)
    const removed = await unsetSetting(args.key)
    if (!this.jsonEnabled()) this.log(removed ? `unset ${args.key}` : `${args.key} was not set`)
    return {key: args.key, removed}
  }
}
