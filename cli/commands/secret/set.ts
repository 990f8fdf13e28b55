import {Args, Flags} from '@oclif/core'
import {setSecretFromInput} from '../../../runtime/secrets/commands.js'
import {KitCommand} from '../../base.js'

export default class SecretSet extends KitCommand {
  static override description =
    'Store a secret for a service. The value is read from stdin (or a prompt that does not echo), never from a flag. With --host it is a custom secret: the guest sees a placeholder that the proxy replaces in the Authorization header (or the --header ones) of requests to those hosts only.'
  static override examples = [
    'printf %s "$TOKEN" | <%= config.bin %> secret set anthropic',
    'printf %s "$TOKEN" | <%= config.bin %> secret set my-api --host api.example.com --env MY_API_TOKEN',
  ]
  static override args = {service: Args.string({description: 'service name (lower-kebab), as a kit credential names it', required: true})}
  static override flags = {
    host: Flags.string({description: 'A host pattern the secret may be sent to (repeatable; makes it a custom secret).', multiple: true}),
    env: Flags.string({description: 'The guest env var holding the placeholder of a custom secret.'}),
    header: Flags.string({description: 'A request header the placeholder of a custom secret is replaced in (repeatable; default Authorization).', multiple: true}),
  }

  async run(): Promise<{service: string; store: string; location: string}> {
    const {args, flags} = await this.parse(SecretSet)
    const r = await setSecretFromInput(args.service, {hosts: flags.host ?? [], ...(flags.env ? {env: flags.env} : {}), ...(flags.header ? {headers: flags.header} : {})})
    if (!this.jsonEnabled()) this.log(`stored secret ${r.service} (${r.store === 'file' ? 'encrypted file' : 'OS keychain'})`)
    return r
  }
}
