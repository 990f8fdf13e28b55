import {Flags} from '@oclif/core'
import {generateKey, type KeyGenerateResult} from '../../../runtime/trust/operations.js'
import {PASSPHRASE_ENV} from '../../../runtime/trust/passphrase.js'
import {KitCommand} from '../../base.js'
import {askNewSecret, canPrompt} from '../../prompt.js'

export default class KeyGenerate extends KitCommand {
  static override description =
    'Generate an ECDSA P-256 signing key pair: NAME.key (PKCS#8, encrypted with a passphrase) and NAME.pub. The passphrase comes from KIT_KEY_PASSWORD, stdin, or on a terminal a prompt (typed twice, not echoed).'
  static override examples = [
    '<%= config.bin %> key generate --output ci-signing',
    'KIT_KEY_PASSWORD=... <%= config.bin %> key generate --output ci-signing',
    'printf %s "$PASS" | <%= config.bin %> key generate --output ci-signing',
  ]
  static override flags = {
    output: Flags.string({char: 'o', description: 'NAME: writes NAME.key and NAME.pub', required: true}),
    force: Flags.boolean({description: 'Replace existing NAME.key / NAME.pub', default: false}),
  }

  async run(): Promise<KeyGenerateResult> {
    const {flags} = await this.parse(KeyGenerate)
    // On a terminal without KIT_KEY_PASSWORD: ask, as ssh-keygen does.
    const passphrase = !process.env[PASSPHRASE_ENV] && canPrompt(this.jsonEnabled())
      ? await askNewSecret(`Enter passphrase for ${flags.output}.key: `, 'Enter same passphrase again: ')
      : undefined
    const result = await generateKey(flags.output, {force: flags.force, passphrase})
    if (!this.jsonEnabled()) this.log(`${result.privateKey} (private, encrypted) and ${result.publicKey} (public); key id ${result.keyId}`)
    return result
  }
}
