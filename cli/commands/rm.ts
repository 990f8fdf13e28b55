import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {Args, Flags} from '@oclif/core'
import {removeFromStore, type RemoveResult} from '../../kit-compiler/artifact.js'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {storeDir} from '../../runtime/home.js'
import {removeSandbox, SANDBOX_NAME, sandboxDir, type RemoveSandboxResult} from '../../runtime/sandbox/state.js'
import {KitCommand} from '../base.js'

export default class Rm extends KitCommand {
  static override description =
    'Remove a reference from the local store and delete the content nothing else references; or remove a sandbox (its state and logs) when NAME is a sandbox.'
  static override examples = ['<%= config.bin %> rm my-mixin:1.2.3', '<%= config.bin %> rm demo --force']
  static override args = {reference: Args.string({description: 'NAME[:TAG] or a digest (removes every reference to it), or a sandbox name', required: true})}
  static override flags = {
    sandbox: Flags.boolean({description: 'REFERENCE is a sandbox name (needed only when a store kit has the same name)'}),
    force: Flags.boolean({char: 'f', description: 'stop a running sandbox first'}),
  }

  async run(): Promise<RemoveResult | {sandbox: RemoveSandboxResult}> {
    const {args, flags} = await this.parse(Rm)
    const isSandbox = flags.sandbox || (SANDBOX_NAME.test(args.reference) && !args.reference.includes(':') && existsSync(join(sandboxDir(args.reference), 'sandbox.json')))
    if (isSandbox) {
      const r = await removeSandbox(args.reference, {force: flags.force})
      if (!this.jsonEnabled()) this.log(`removed sandbox ${r.name}${r.stopped ? ' (stopped it first)' : ''}`)
      return {sandbox: r}
    }
    const store = await OciLayoutStore.open(storeDir())
    const result = await removeFromStore(store, args.reference)
    if (!this.jsonEnabled()) {
      this.log(`removed ${result.removed.join(', ')} (${result.blobsRemoved} blob${result.blobsRemoved === 1 ? '' : 's'}, ${result.bytesFreed} bytes freed)`)
    }
    return result
  }
}
