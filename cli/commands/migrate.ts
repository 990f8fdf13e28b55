import {Args, Flags} from '@oclif/core'
import {formatDiagnostic} from '../../kit-compiler/diagnostics.js'
import {migrateKit} from '../../kit-compiler/migrate.js'
import {KitCommand} from '../base.js'

export default class Migrate extends KitCommand {
  static override description = 'Rewrite a schema v1 kit spec as schema v2, or (--to 3) a v1/v2 kit as a schema v3 kit: <name>.yaml and <name>.dockerfile (the original is kept as spec.yaml.bak).'
  static override examples = ['<%= config.bin %> migrate ./old-v1-kit', '<%= config.bin %> migrate ./old-v1-kit --dry-run', '<%= config.bin %> migrate ./v2-kit --to 3']
  static override args = {dir: Args.string({description: 'kit directory', required: true})}
  static override flags = {
    'dry-run': Flags.boolean({description: 'Print the new spec instead of writing it.'}),
    to: Flags.string({description: 'Target schema version.', options: ['2', '3'], default: '2'}),
  }

  async run(): Promise<{specPath: string; backupPath?: string; written: boolean; warnings: string[]; spec?: string}> {
    const {args, flags} = await this.parse(Migrate)
    if (flags.to === '3') {
      const {migrateToV3} = await import('../../kit-compiler/v3/migrate.js')
      const r = await migrateToV3(args.dir, {dryRun: flags['dry-run']})
      const warnings = r.warnings.map(formatDiagnostic)
      if (!this.jsonEnabled()) {
        for (const w of warnings) process.stderr.write(w + '\n')
        if (flags['dry-run']) this.log(r.yaml.trimEnd() + (r.dockerfile ? `\n--- ${r.dockerfilePath}\n${r.dockerfile.trimEnd()}` : ''))
        else this.log(`migrated to schema v3: ${r.descriptorPath}${r.dockerfilePath ? ` and ${r.dockerfilePath}` : ''} (original kept as ${r.backupPath})`)
      }
      return {specPath: r.descriptorPath, backupPath: r.backupPath, written: r.written, warnings, ...(flags['dry-run'] ? {spec: r.yaml} : {})}
    }
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
