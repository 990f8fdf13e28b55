import {Args, Flags} from '@oclif/core'
import {formatDiagnostic} from '../../kit-compiler/diagnostics.js'
import {migrateKit} from '../../kit-compiler/migrate.js'
import {KitCommand} from '../base.js'

export default class Migrate extends KitCommand {
  static override description = 'Rewrite a schema v1 kit spec as schema v2 (the original is kept as spec.yaml.bak).'
  static override examples = ['<%= config.bin %> migrate ./old-v1-kit', '<%= config.bin %> migrate ./old-v1-kit --dry-run']
  static override args = {dir: Args.string({description: 'kit directory', required: true})}
  static override flags = {'dry-run': Flags.boolean({description: 'Print the v2 spec instead of writing it.'})}

  async run(): Promise<{specPath: string; backupPath?: string; written: boolean; warnings: string[]; spec?: string}> {
    const {args, flags} = await this.parse(Migrate)
    const result = await migrateKit(args.dir, {dryRun: flags['dry-run']})
    const warnings = result.warnings.map(formatDiagnostic)
    if (!this.jsonEnabled()) {
      for (const w of warnings) process.stderr.write(w + '\n')
      if (flags['dry-run']) this.log(result.yaml.trimEnd())
      else this.log(`migrated ${result.specPath} to schema v2 (original kept as ${result.backupPath})`)
    }
    return {specPath: result.specPath, backupPath: result.backupPath, written: result.written, warnings, ...(flags['dry-run'] ? {spec: result.yaml} : {})}
  }
}
