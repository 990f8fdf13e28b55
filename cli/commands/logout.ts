import {Args} from '@oclif/core'
import {AuthFile, configuredHelper, dockerConfigKey, dockerConfigPath, helperWrite} from '../../registry-client/credentials.js'
import {parseReference} from '../../registry-client/reference.js'
import {KitCommand} from '../base.js'
import {authFilePath} from '../registry.js'

export default class Logout extends KitCommand {
  static override description = "Forget the credentials `kit login` stored for a registry (in $KIT_HOME/auth.json, and through docker's credential helper when one is configured)."
  static override args = {registry: Args.string({description: 'registry host[:port]', required: true})}

  async run(): Promise<{registry: string; removed: boolean}> {
    const {args} = await this.parse(Logout)
    const registry = parseReference(`${args.registry}/x`).registry
    let removed = await new AuthFile(authFilePath()).remove(registry)
    const helper = await configuredHelper(registry, dockerConfigPath())
    if (helper) {
      // A helper that holds nothing for the registry fails the erase: then nothing was removed.
      removed = (await helperWrite(helper, 'erase', dockerConfigKey(registry)).then(() => true, () => false)) || removed
    }
    if (!this.jsonEnabled()) this.log(removed ? `Logged out of ${registry}` : `Not logged in to ${registry}`)
    return {registry, removed}
  }
}
