import {listSettings, type SettingValue} from '../../../runtime/config.js'
import {KitCommand} from '../../base.js'

export default class ConfigLs extends KitCommand {
  static override description = 'List every setting with its effective value and source (default, user, org).'
  static override aliases = ['config:list']

  async run(): Promise<{settings: SettingValue[]}> {
    const settings = await listSettings()
    if (!this.jsonEnabled()) {
      for (const s of settings) this.log(`${s.key} = ${JSON.stringify(s.value ?? null)}  (${s.source})`)
    }
    return {settings}
  }
}
