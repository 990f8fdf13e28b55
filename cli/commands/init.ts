import {Args, Flags} from '@oclif/core'
import {scaffoldKit} from '../../kit-compiler/init.js'
import {KitCommand} from '../base.js'

export default class Init extends KitCommand {
  static override description = 'Scaffold a kit: spec.yaml, files/home, files/workspace and a README.'
  static override examples = ['<%= config.bin %> init my-mixin --kind mixin', '<%= config.bin %> init my-agent --kind sandbox']
  static override args = {dir: Args.string({description: 'directory to create', required: true})}
  static override flags = {
    kind: Flags.string({description: 'kit kind (agent is a synonym of sandbox)', options: ['mixin', 'sandbox', 'agent'], default: 'mixin'}),
    name: Flags.string({description: 'kit name (default: the directory name)'}),
  }

  async run(): Promise<{dir: string; name: string; kind: string; files: string[]}> {
    const {args, flags} = await this.parse(Init)
    const kind = flags.kind === 'mixin' ? 'mixin' : 'sandbox'
    const result = await scaffoldKit(args.dir, {kind, name: flags.name})
    this.log(`created ${kind} kit ${result.name} in ${args.dir}`)
    return {...result, kind}
  }
}
