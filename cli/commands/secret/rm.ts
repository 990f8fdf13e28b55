import {Args} from '@oclif/core'
import {removeSecret} from '../../../runtime/secrets/commands.js'
import {KitCommand} from '../../base.js'

export default class SecretRm extends KitCommand {
  static override description = 'Remove a stored secret.'
  static override args = {service: Args.string({description: 'service name', required: true})}

  async run(): Promise<{service: string; removed: boolean}> {
    const {args} = await this.parse(SecretRm)
    const r = await removeSecret(args.service)
    if (!this.jsonEnabled()) this.log(r.removed ? `removed secret ${r.service}` : `no secret ${r.service}`)
    return r
  }
}
