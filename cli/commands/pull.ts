import {Args, Flags} from '@oclif/core'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {LOCKFILE_NAME} from '../../registry-client/lockfile.js'
import type {PullResult} from '../../registry-client/pull.js'
import {pullPolicy} from '../../runtime/config.js'
import {storeDir} from '../../runtime/home.js'
import {pullLockedWithPolicy, pullWithPolicy} from '../../runtime/trust/pull.js'
import {KitCommand} from '../base.js'
import {blobSources, progress, quietFlag, registryFlags, registryOptions} from '../registry.js'

type PullJson = Pick<PullResult, 'reference' | 'resolved' | 'digest' | 'mediaType' | 'size' | 'tag' | 'version' | 'storedAs' | 'bytesDownloaded' | 'blobsSkipped'>

export default class Pull extends KitCommand {
  static override description =
    'Pull a kit or image into the local store (tag, @digest or a semver range like @^1.4). With --frozen-lockfile, only what kits.lock.json pins, by digest.'
  static override examples = [
    '<%= config.bin %> pull registry.example.com/team/my-mixin@^1.4',
    '<%= config.bin %> pull registry.example.com/team/my-mixin@sha256:...',
    '<%= config.bin %> pull --frozen-lockfile',
  ]
  static override args = {reference: Args.string({description: 'registry/repository[:tag|@digest|@range]'})}
  static override flags = {
    'frozen-lockfile': Flags.boolean({description: 'Refuse anything not in the lockfile; fetch by digest only.', default: false}),
    lockfile: Flags.string({description: 'The lockfile for --frozen-lockfile', default: LOCKFILE_NAME}),
    platform: Flags.string({description: 'os/arch to pick from a multi-platform image', default: 'linux/amd64'}),
    ...registryFlags,
    ...quietFlag,
  }

  async run(): Promise<PullJson | {kits: PullJson[]}> {
    const {args, flags} = await this.parse(Pull)
    const [os, architecture, variant] = flags.platform.split('/')
    const store = await OciLayoutStore.open(storeDir())
    const bar = progress(`pulling ${args.reference ?? flags.lockfile}`, {active: 'pulling', done: 'pulled'}, {json: this.jsonEnabled(), quiet: flags.quiet})
    const opts = {
      ...(await registryOptions(flags)),
      ...(await pullPolicy()),
      platform: {os: os ?? 'linux', architecture: architecture ?? 'amd64', ...(variant ? {variant} : {})},
      onProgress: bar.onProgress,
      blobSources: await blobSources(),
    }
    let results: PullResult[]
    try {
      if (flags['frozen-lockfile']) results = await pullLockedWithPolicy(flags.lockfile, args.reference, store, opts)
      else if (args.reference === undefined) this.error('a reference is needed (or --frozen-lockfile to pull the lockfile)', {exit: 2})
      else results = [await pullWithPolicy(args.reference, store, opts)]
    } finally {
      bar.done()
    }
    const out = results.map(
      (r): PullJson => ({reference: r.reference, resolved: r.resolved, digest: r.digest, mediaType: r.mediaType, size: r.size, tag: r.tag, version: r.version, storedAs: r.storedAs, bytesDownloaded: r.bytesDownloaded, blobsSkipped: r.blobsSkipped}),
    )
    if (!this.jsonEnabled()) for (const r of out) this.log(`${r.storedAs.join(', ')} ${r.digest}`)
    return args.reference !== undefined ? out[0]! : {kits: out}
  }
}
