import {Args, Flags} from '@oclif/core'
import {signReference, type SignReferenceResult} from '../../runtime/trust/operations.js'
import {KitCommand} from '../base.js'
import {registryFlags, registryOptions} from '../registry.js'

export default class Sign extends KitCommand {
  static override description =
    'Sign the manifest digest a reference resolves to and attach the Sigstore bundle as an OCI referrer (in the registry it names, or the local store).'
  static override examples = [
    '<%= config.bin %> sign registry.example.com/team/gh:2.1.0 --key ci-signing.key',
    '<%= config.bin %> sign my-mixin:1.2.3 --key ci-signing.key --provenance ./my-mixin',
  ]
  static override args = {reference: Args.string({description: 'host/repository[:tag|@digest], or a local-store NAME[:TAG]', required: true})}
  static override flags = {
    key: Flags.string({description: 'The private key (NAME.key); its passphrase from KIT_KEY_PASSWORD or stdin', required: true}),
    provenance: Flags.string({description: 'Also attach signed SLSA provenance of the kit built from this directory'}),
    local: Flags.boolean({description: 'Sign in the local store even when the reference names a registry', default: false}),
    ...registryFlags,
  }

  async run(): Promise<SignReferenceResult> {
    const {args, flags} = await this.parse(Sign)
    const result = await signReference(args.reference, {
      ...(await registryOptions(flags)),
      keyPath: flags.key,
      local: flags.local,
      provenanceFrom: flags.provenance,
    })
    if (!this.jsonEnabled()) {
      this.log(`signed ${result.reference}@${result.digest} with ${result.keyId} (referrer ${result.signature.referrer})`)
      if (result.provenance) this.log(`provenance attached (referrer ${result.provenance.referrer})`)
    }
    return result
  }
}
