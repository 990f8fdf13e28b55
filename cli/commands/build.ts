import {Args, Flags} from '@oclif/core'
import {buildKit} from '../../kit-compiler/build.js'
import {formatDiagnostic, KitValidationError} from '../../kit-compiler/diagnostics.js'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {storeDir} from '../../runtime/home.js'
import {KitCommand} from '../base.js'
import {findV3Descriptor} from '../../kit-compiler/v3/source.js'

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
    'build-arg': Flags.string({description: 'NAME=VALUE for a build-phase arg of a schema v3 kit (repeatable)', multiple: true}),
  }

  async run(): Promise<Record<string, unknown> | {
    reference: string
    digest: string
    size: number
    layer: {digest: string; size: number; diffId: string}
    warnings: Array<{file: string; line?: number; column?: number; message: string; code: string}>
  }> {
    const {args, flags} = await this.parse(Build)
    const store = await OciLayoutStore.open(storeDir())
    // Schema v3 (a <stem>.yaml descriptor or a `# kit:` Dockerfile): an OCI image with the descriptor annotation.
    if (await findV3Descriptor(args.dir)) return this.buildV3(args.dir, store, flags.tag, flags['build-arg'] ?? [])
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

  private async buildV3(dir: string, store: OciLayoutStore, tag: string | undefined, buildArgs: string[]): Promise<Record<string, unknown>> {
    const {buildV3} = await import('../../kit-compiler/v3/build.js')
    const values: Record<string, string> = {}
    for (const a of buildArgs) {
      const eq = a.indexOf('=')
      if (eq <= 0) throw Object.assign(new Error(`--build-arg ${JSON.stringify(a)}: write NAME=VALUE`), {code: 'E_USAGE'})
      values[a.slice(0, eq)] = a.slice(eq + 1)
    }
    let result
    try {
      result = await buildV3(dir, {store, tag, buildArgs: values})
    } catch (err) {
      if (err instanceof KitValidationError && !this.jsonEnabled()) {
        for (const d of err.diagnostics) process.stderr.write(formatDiagnostic(d) + '\n')
        const errors = err.diagnostics.filter((d) => d.severity === 'error').length
        throw Object.assign(new Error(`${dir}: invalid kit (${errors} error${errors === 1 ? '' : 's'}), nothing built`), {code: err.code})
      }
      throw err
    }
    if (!this.jsonEnabled()) {
      for (const w of result.warnings) process.stderr.write(formatDiagnostic(w) + '\n')
      this.log(`${result.reference} ${result.digest}`)
    }
    return {
      reference: result.reference,
      digest: result.digest,
      size: result.size,
      schemaVersion: result.schemaVersion,
      kind: result.kind,
      builtWith: result.builtWith,
      layers: result.layers.map((l) => ({digest: l.digest, size: l.size, diffId: l.diffId})),
      warnings: result.warnings.map((w) => ({file: w.file, line: w.line, column: w.column, message: w.message, code: w.code})),
    }
  }
}
