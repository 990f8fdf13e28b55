import {Args, Flags} from '@oclif/core'
import {buildKit} from '../../kit-compiler/build.js'
import {formatDiagnostic, KitValidationError} from '../../kit-compiler/diagnostics.js'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {storeDir} from '../../runtime/home.js'
import {KitCommand} from '../base.js'

export default class Build extends KitCommand {
  static override description =
    'Build a kit directory into an OCI artifact in the local store (reproducible: the same source gives the same digest).'
  static override examples = [
    '<%= config.bin %> build ./my-mixin --tag my-mixin:1.2.3',
    'SOURCE_DATE_EPOCH=1700000000 <%= config.bin %> build ./my-mixin --json',
  ]
  static override args = {dir: Args.string({description: 'kit directory', required: true})}
  static override flags = {
    tag: Flags.string({char: 't', description: 'NAME:TAG to tag the build with (default <name>:<version>, or <name>:latest)'}),
  }

  async run(): Promise<{
    reference: string
    digest: string
    size: number
    layer: {digest: string; size: number; diffId: string}
    warnings: Array<{file: string; line?: number; column?: number; message: string; code: string}>
  }> {
    const {args, flags} = await this.parse(Build)
    const store = await OciLayoutStore.open(storeDir())
    let result
    try {
      result = await buildKit(args.dir, {store, tag: flags.tag})
    } catch (err) {
      if (err instanceof KitValidationError && !this.jsonEnabled()) {
        // Every diagnostic on its own line (as `kit validate` prints them), then the one-line summary.
        for (const d of err.diagnostics) process.stderr.write(formatDiagnostic(d) + '\n')
        const errors = err.diagnostics.filter((d) => d.severity === 'error').length
        throw Object.assign(new Error(`${args.dir}: invalid kit (${errors} error${errors === 1 ? '' : 's'}), nothing built`), {code: err.code})
      }
      throw err
    }
    if (!this.jsonEnabled()) {
      for (const w of result.warnings) process.stderr.write(formatDiagnostic(w) + '\n')
      this.log(`${result.reference} ${result.digest}`)
    }
    const {layer} = result
    return {
      reference: result.reference,
      digest: result.digest,
      size: result.size,
      layer: {digest: layer.digest, size: layer.size, diffId: layer.diffId},
      warnings: result.warnings.map((w) => ({file: w.file, line: w.line, column: w.column, message: w.message, code: w.code})),
    }
  }
}
