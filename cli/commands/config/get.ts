import {Args} from '@oclif/core'
import {getSettingValue} from '../../../runtime/config.js'
import {KitCommand} from '../../base.js'

export default class ConfigGet extends KitCommand {
  static override description = 'Print the effective value of a setting (and where it comes from with --json).'
  static override args = {key: Args.string({description: 'setting name', required: true})}

  async run(): Promise<{key: string; value: unknown; source: string}> {
    const {args} = await this.parse(ConfigGet)
    const v = await getSettingValue(args.key)
    if (!this.jsonEnabled()) this.log(typeof v.value === 'string' ? v.value : JSON.stringify(v.value ?? null))
    return {key: v.key, value: v.value ?? null, source: v.source}
  }
}
