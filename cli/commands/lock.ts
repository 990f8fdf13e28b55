import {Args, Flags} from '@oclif/core'
import type {LockChange} from '../../registry-client/lockfile.js'
import {lockWithApproval, terminalConfirm} from '../../runtime/trust/approval.js'
import {pullPolicy} from '../../runtime/config.js'
import {KitCommand} from '../base.js'
import {registryFlags, registryOptions} from '../registry.js'

export default class Lock extends KitCommand {
  static override description =
    'Resolve every reference of a kits.yaml to a digest, into kits.lock.json beside it (entries already locked stay unless --update).'
  static override examples = ['<%= config.bin %> lock ./kits.yaml', '<%= config.bin %> lock ./kits.yaml --frozen-lockfile']
  static override args = {file: Args.string({description: 'kits.yaml', default: 'kits.yaml'})}
  static override flags = {
    update: Flags.boolean({description: 'Re-resolve every reference (pick up new versions).', default: false}),
    'frozen-lockfile': Flags.boolean({description: 'Fail if the lockfile would change; write nothing.', default: false}),
    lockfile: Flags.string({description: 'Lockfile path (default: kits.lock.json beside FILE)'}),
    approve: Flags.boolean({description: 'Record upgrades whose permission surface is wider (kit lock --update stops on them otherwise).', default: false}),
    ...registryFlags,
  }

  async run(): Promise<{lockfile: string; written: boolean; changes: LockChange[]; kits: Record<string, unknown>}> {
    const {args, flags} = await this.parse(Lock)
    const r = await lockWithApproval(args.file, {
      approve: flags.approve,
      confirm: terminalConfirm(this.jsonEnabled()),
      ...(await registryOptions(flags)),
      ...(await pullPolicy()),
      update: flags.update,
      frozen: flags['frozen-lockfile'],
      lockfile: flags.lockfile,
    })
    if (!this.jsonEnabled()) {
      for (const c of r.changes) this.log(`${c.kind} ${c.reference}${c.to ? ` → ${c.to}` : ''}`)
      this.log(r.written ? `wrote ${r.path}` : `${r.path} is up to date`)
    }
    return {lockfile: r.path, written: r.written, changes: r.changes, kits: r.lockfile.kits}
  }
}
