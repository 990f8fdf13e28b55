import {Args, Flags} from '@oclif/core'
import {exportKit, type ExportResult} from '../../kit-compiler/export.js'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {storeDir} from '../../runtime/home.js'
import {KitCommand} from '../base.js'

export default class Export extends KitCommand {
  static override description = 'Export a kit from the local store as an OCI image layout: a directory, or a .tar of one.'
  static override examples = [
    '<%= config.bin %> export my-mixin:1.2.3 --output ./out   # then: skopeo inspect oci:./out:1.2.3',
    '<%= config.bin %> export my-mixin:1.2.3 --output my-mixin.tar   # oci-archive:my-mixin.tar:1.2.3',
  ]
  static override args = {reference: Args.string({description: 'NAME[:TAG] or a digest', required: true})}
  static override flags = {
    output: Flags.string({char: 'o', description: 'directory (created, or an existing layout) or FILE.tar', required: true}),
    tag: Flags.string({description: 'tag in the exported layout (default: the reference\'s tag)'}),
  }

  async run(): Promise<ExportResult> {
    const {args, flags} = await this.parse(Export)
    const store = await OciLayoutStore.open(storeDir())
    const result = await exportKit(store, args.reference, flags.output, {tag: flags.tag})
    if (!this.jsonEnabled()) {
      const scheme = result.format === 'tar' ? 'oci-archive' : 'oci'
      this.log(`${result.reference} → ${scheme}:${flags.output}:${result.tag} (${result.digest})`)
    }
    return result
  }
}
