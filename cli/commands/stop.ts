import {Args} from '@oclif/core'
import {stopSandbox, type StopResult} from '../../runtime/sandbox/state.js'
import {KitCommand} from '../base.js'

export default class Stop extends KitCommand {
  static override description = 'Stop a running sandbox: its VM and its proxy stop (the sandbox and its logs stay; kit rm removes them).'
  static override examples = ['<%= config.bin %> stop demo']
  static override args = {name: Args.string({description: 'sandbox name', required: true})}

  async run(): Promise<StopResult> {
    const {args} = await this.parse(Stop)
    const r = await stopSandbox(args.name)
    if (!this.jsonEnabled()) this.log(r.wasRunning ? `stopped ${r.name}` : `${r.name} was not running`)
    return r
  }
}
