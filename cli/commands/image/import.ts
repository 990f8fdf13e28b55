import {Args, Flags} from '@oclif/core'
import {OciLayoutStore} from '../../../registry-client/layout-store.js'
import {storeDir} from '../../../runtime/home.js'
import {importRootfsTarball} from '../../../runtime/image/import.js'
import {KitCommand} from '../../base.js'

export default class ImageImport extends KitCommand {
  static override description = 'Import a root filesystem tarball (docker export, mmdebstrap, any flattened rootfs; plain or gzip) into the local store as a one-layer agent image.'
  static override examples = ['<%= config.bin %> image import rootfs.tar --tag localhost/kit-shell-agent:bookworm']
  static override args = {tarball: Args.string({description: 'root filesystem tarball', required: true})}
  static override flags = {
    tag: Flags.string({char: 't', description: 'reference to store it under (e.g. localhost/my-agent:1)', required: true}),
  }

  async run(): Promise<{reference: string; digest: string; layer: {digest: string; size: number}; diffId: string}> {
    const {args, flags} = await this.parse(ImageImport)
    const store = await OciLayoutStore.open(storeDir())
    const r = await importRootfsTarball(store, args.tarball, flags.tag)
    if (!this.jsonEnabled()) this.log(`${r.reference} ${r.manifest.digest}`)
    return {reference: r.reference, digest: r.manifest.digest, layer: {digest: r.layer.digest, size: r.layer.size}, diffId: r.diffId}
  }
}
