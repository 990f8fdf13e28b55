import {Args} from '@oclif/core'
import {AuthFile} from '../../registry-client/credentials.js'
import {parseReference} from '../../registry-client/reference.js'
import {KitCommand} from '../base.js'
import {authFilePath} from '../registry.js'

export default class Logout extends KitCommand {
  static override description = 'Forget the credentials `kit login` stored for a registry.'
  static override args = {registry: Args.string({description: 'registry host[:port]', required: true})}

  async run(): Promise<{registry: string; removed: boolean}> {
    const {args} = await this.parse(Logout)
    const registry = parseReference(`${args.registry}/x`).registry
    const removed = await new AuthFile(authFilePath()).remove(registry)
    if (!this.jsonEnabled()) this.log(removed ? `Logged out of ${registry}` : `Not logged in to ${registry}`)
    return {registry, removed}
  }
}
