import {existsSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {Args, Flags} from '@oclif/core'
import {scaffoldKit} from '../../kit-compiler/init.js'
import {KitCommand} from '../base.js'

/** The schema v2 file shipped with kit: schemas/ at the package root (a clone or an npm install). */
export function shippedSchema(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) {
      const file = join(dir, 'schemas', 'kit-v2.schema.json')
      return existsSync(file) ? file : undefined
    }
    dir = dirname(dir)
  }
  return undefined
}

export default class Init extends KitCommand {
  static override description = 'Scaffold a kit: spec.yaml, files/home, files/workspace and a README.'
  static override examples = ['<%= config.bin %> init my-mixin --kind mixin', '<%= config.bin %> init my-agent --kind sandbox']
  static override args = {dir: Args.string({description: 'directory to create', required: true})}
  static override flags = {
    kind: Flags.string({description: 'kit kind (agent is a synonym of sandbox)', options: ['mixin', 'sandbox', 'agent'], default: 'mixin'}),
    name: Flags.string({description: 'kit name (default: the directory name)'}),
    schema: Flags.string({
      description:
        'Path or URL of the JSON Schema for editors, written as the first line of spec.yaml (# yaml-language-server: $schema=...); default: the schema file installed with kit',
      exclusive: ['no-schema'],
    }),
    'no-schema': Flags.boolean({description: 'Write no schema line', default: false}),
  }

  async run(): Promise<{dir: string; name: string; kind: string; files: string[]}> {
    const {args, flags} = await this.parse(Init)
    const kind = flags.kind === 'mixin' ? 'mixin' : 'sandbox'
    // --schema URL (say, a URL the team serves) travels with the kit; the installed file is the default.
    const schema = flags['no-schema'] ? undefined : flags.schema ?? shippedSchema()
    const result = await scaffoldKit(args.dir, {kind, name: flags.name, schema})
    this.log(`created ${kind} kit ${result.name} in ${args.dir}`)
    return {...result, kind}
  }
}
