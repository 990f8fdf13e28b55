import {KitCommand} from '../base.js'

export default class Version extends KitCommand {
  static override description = 'Print the version of kit and of the Node.js it runs on.'

  async run(): Promise<{version: string; node: string}> {
    const result = {version: this.config.version, node: process.version}
    this.log(`kit ${result.version} (node ${result.node})`)
    return result
  }
}
