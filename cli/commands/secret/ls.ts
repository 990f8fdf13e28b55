import {listSecrets} from '../../../runtime/secrets/commands.js'
import type {ListedSecret} from '../../../runtime/secrets/store.js'
import {KitCommand} from '../../base.js'

export default class SecretLs extends KitCommand {
  static override description = 'List stored secrets: names and masked values only.'

  async run(): Promise<{store: string; secrets: ListedSecret[]}> {
    const r = await listSecrets()
    if (!this.jsonEnabled()) {
      if (r.secrets.length === 0) this.log('no secrets')
      for (const s of r.secrets) {
        const bound = s.hosts ? `  hosts: ${s.hosts.join(', ')}${s.env ? `  env: ${s.env}` : ''}${s.headers ? `  headers: ${s.headers.join(', ')}` : ''}` : ''
        this.log(`${s.name}  ${s.masked}${bound}`)
      }
    }
    return r
  }
}
