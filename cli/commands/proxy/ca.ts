import {proxyCaPath} from '../../../runtime/proxy/standalone.js'
import {KitCommand} from '../../base.js'

export default class ProxyCa extends KitCommand {
  static override description = 'Print the path of the proxy CA certificate that clients must trust (created on first use; its key never leaves KIT_HOME).'

  async run(): Promise<{caCertPath: string}> {
    const caCertPath = await proxyCaPath()
    if (!this.jsonEnabled()) this.log(caCertPath)
    return {caCertPath}
  }
}
