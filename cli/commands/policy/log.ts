import {Flags} from '@oclif/core'
import {formatAuditEntry, readAuditLog} from '../../../runtime/policy/commands.js'
import type {AuditEntry} from '../../../runtime/proxy/audit.js'
import {KitCommand} from '../../base.js'

export default class PolicyLog extends KitCommand {
  static override description = 'Show the audit log of the proxy: one line per decision. With --follow, keep printing new entries (with --json, one JSON object per line).'
  static override flags = {
    follow: Flags.boolean({char: 'f', description: 'Keep reading new entries until interrupted.'}),
    file: Flags.string({description: 'The audit log file; default KIT_HOME/logs/policy.jsonl.'}),
    tail: Flags.integer({description: 'Show only the last N entries.'}),
  }

  async run(): Promise<{entries: AuditEntry[]} | void> {
    const {flags} = await this.parse(PolicyLog)
    const json = this.jsonEnabled()
    if (flags.follow) {
      const ac = new AbortController()
      const stop = () => ac.abort()
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
      await readAuditLog({
        ...(flags.file ? {file: flags.file} : {}),
        follow: true,
        ...(flags.tail !== undefined ? {tail: flags.tail} : {}),
        signal: ac.signal,
        onEntry: (e) => process.stdout.write((json ? JSON.stringify(e) : formatAuditEntry(e)) + '\n'),
      })
      process.exit(0)
    }
    const entries = await readAuditLog({...(flags.file ? {file: flags.file} : {}), ...(flags.tail !== undefined ? {tail: flags.tail} : {})})
    if (!json) for (const e of entries) this.log(formatAuditEntry(e))
    return {entries}
  }
}
