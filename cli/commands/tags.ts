import {Args} from '@oclif/core'
import {parseReference} from '../../registry-client/reference.js'
import {RemoteRepository} from '../../registry-client/remote.js'
import {isHousekeepingTag} from '../../registry-client/semver.js'
import {KitCommand} from '../base.js'
import {registryFlags, registryOptions} from '../registry.js'

export default class Tags extends KitCommand {
  static override description = 'List the tags of a repository on a registry (--json: the list).'
  static override args = {repository: Args.string({description: 'registry/repository', required: true})}
  static override flags = {...registryFlags}

  async run(): Promise<string[]> {
    const {args, flags} = await this.parse(Tags)
    const ref = parseReference(args.repository)
    // sbx's _kit_ GC anchors and sha256- referrer fallback tags are not versions of the kit.
    const tags = (await new RemoteRepository(ref, await registryOptions(flags)).tags({missing: 'error'})).filter((t) => !isHousekeepingTag(t)).sort()
    if (!this.jsonEnabled()) for (const t of tags) this.log(t)
    return tags
  }
}
