import {Args, Flags} from '@oclif/core'
import {verifyReference, type VerifyReferenceResult} from '../../runtime/trust/operations.js'
import {KitCommand} from '../base.js'
import {registryFlags, registryOptions} from '../registry.js'

export default class Verify extends KitCommand {
  static override description =
    'Verify that a reference\'s manifest and blobs match their digests and carry a valid signature over that exact digest by the given key. Exits 0 only then.'
  static override examples = [
    '<%= config.bin %> verify registry.example.com/team/gh:2.1.0 --key ci-signing.pub',
    '<%= config.bin %> verify registry.example.com/team/gh@sha256:... --key a.pub --key b.pub --provenance --json',
  ]
  static override args = {reference: Args.string({description: 'host/repository[:tag|@digest], or a local-store NAME[:TAG]', required: true})}
  static override flags = {
    key: Flags.string({description: 'A trusted public key (NAME.pub); repeat for several', required: true, multiple: true}),
    provenance: Flags.boolean({description: 'Also require signed SLSA provenance by one of the keys', default: false}),
    local: Flags.boolean({description: 'Verify in the local store even when the reference names a registry', default: false}),
    ...registryFlags,
  }

  async run(): Promise<VerifyReferenceResult> {
    const {args, flags} = await this.parse(Verify)
    const result = await verifyReference(args.reference, {
      ...(await registryOptions(flags)),
      keyPaths: flags.key,
      local: flags.local,
      provenance: flags.provenance,
    })
    if (!this.jsonEnabled()) {
      for (const s of result.signatures) this.log(`verified ${result.reference}@${result.digest}: signed by ${s.signer} (${s.keyId})`)
      for (const p of result.provenance ?? []) this.log(`provenance by ${p.signer}${p.builder ? `, builder ${p.builder}` : ''}`)
    }
    return result
  }
}
