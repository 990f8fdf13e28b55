import {Args} from '@oclif/core'
import {removeFromStore, type RemoveResult} from '../../kit-compiler/artifact.js'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {storeDir} from '../../runtime/home.js'
import {KitCommand} from '../base.js'

export default class Rm extends KitCommand {
  static override description = 'Remove a reference from the local store and delete the content nothing else references.'
  static override examples = ['<%= config.bin %> rm my-mixin:1.2.3']
  static override args = {reference: Args.string({description: 'NAME[:TAG] or a digest (removes every reference to it)', required: true})}

  async run(): Promise<RemoveResult> {
    const {args} = await this.parse(Rm)
    const store = await OciLayoutStore.open(storeDir())
    const result = await removeFromStore(store, args.reference)
    if (!this.jsonEnabled()) {
      this.log(`removed ${result.removed.join(', ')} (${result.blobsRemoved} blob${result.blobsRemoved === 1 ? '' : 's'}, ${result.bytesFreed} bytes freed)`)
    }
    return result
  }
}
