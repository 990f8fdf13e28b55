import {Args, Flags} from '@oclif/core'
import {formatDiagnostic} from '../../kit-compiler/diagnostics.js'
import {validateKit} from '../../kit-compiler/load.js'
import {validateV3Dir} from '../../kit-compiler/v3/validate.js'
import {KitCommand} from '../base.js'

interface KitReport {
  kit: string
  valid: boolean
  name?: string
  kind?: string
  schemaVersion?: string
  errors: Array<{file: string; line?: number; column?: number; message: string; code: string}>
  warnings: Array<{file: string; line?: number; column?: number; message: string; code: string}>
}

export default class Validate extends KitCommand {
  static override description = 'Validate kit directories: every error as file:line:col: message; exit 1 when any kit is invalid.'
  static override examples = ['<%= config.bin %> validate ./my-mixin ./my-agent', '<%= config.bin %> validate ./my-mixin --json']
  static override strict = false
  static override args = {kit: Args.string({description: 'kit directory (several may be given)', required: true})}
  static override flags = {
    'no-warnings': Flags.boolean({description: 'Do not print warnings.'}),
  }

  async run(): Promise<KitReport | KitReport[]> {
    const {argv, flags} = await this.parse(Validate)
    const reports: KitReport[] = []
    for (const dir of argv as string[]) {
      // Schema v3 (a <stem>.yaml descriptor, or a `# kit:` Dockerfile) when the directory holds one.
      const v3 = await validateV3Dir(dir)
      const result = v3 ?? (await validateKit(dir))
      const strip = (d: (typeof result.diagnostics)[number]) => ({file: d.file, line: d.line, column: d.column, message: d.message, code: d.code})
      const report: KitReport = {
        kit: dir,
        valid: result.valid,
        errors: result.diagnostics.filter((d) => d.severity === 'error').map(strip),
        warnings: result.diagnostics.filter((d) => d.severity === 'warning').map(strip),
      }
      if (v3?.kit) Object.assign(report, {name: v3.kit.source.stem, kind: v3.kit.descriptor.kind, schemaVersion: '3'})
      else if (!v3 && result.kit && 'spec' in result.kit) Object.assign(report, {name: result.kit.spec.name, kind: result.kit.spec.kind, schemaVersion: result.kit.schemaVersion})
      reports.push(report)
      if (!this.jsonEnabled()) {
        for (const d of result.diagnostics) {
          if (d.severity === 'warning' && flags['no-warnings']) continue
          process.stderr.write(formatDiagnostic(d) + '\n')
        }
        this.log(result.valid ? `${dir}: valid (${report.kind} ${report.name}, schema v${report.schemaVersion})` : `${dir}: invalid (${report.errors.length} error${report.errors.length === 1 ? '' : 's'})`)
      }
    }
    if (reports.some((r) => !r.valid)) process.exitCode = 1
    return reports.length === 1 ? reports[0] : reports
  }
}
