import {Flags} from '@oclif/core'
import {generateKey, type KeyGenerateResult} from '../../../runtime/trust/operations.js'
import {KitCommand} from '../../base.js'

export default class KeyGenerate extends KitCommand {
  static override description =
    'Generate an ECDSA P-256 signing key pair: NAME.key (PKCS#8, encrypted with a passphrase from KIT_KEY_PASSWORD or stdin) and NAME.pub.'
  static override examples = [
    'KIT_KEY_PASSWORD=... <%= config.bin %> key generate --output ci-signing',
    'printf %s "$PASS" | <%= config.bin %> key generate --output ci-signing',
  ]
  static override flags = {
    output: Flags.string({char: 'o', description: 'NAME: writes NAME.key and NAME.pub', required: true}),
    force: Flags.boolean({description: 'Replace existing NAME.key / NAME.pub', default: false}),
  }

  async run(): Promise<KeyGenerateResult> {
    const {flags} = await this.parse(KeyGenerate)
    const result = await generateKey(flags.output, {force: flags.force})
    if (!this.jsonEnabled()) this.log(`${result.privateKey} (private, encrypted) and ${result.publicKey} (public); key id ${result.keyId}`)
    return result
  }
}
