import {Args} from '@oclif/core'
import {sandboxStats, type SandboxStats} from '../../runtime/sandbox/stats.js'
import {humanSize} from './ls.js'
import {KitCommand} from '../base.js'

export default class Stats extends KitCommand {
  static override description = 'Show what a sandbox used: egress requests, bytes each way and blocked requests (from its audit log), CPU and memory while it runs.'
  static override examples = ['<%= config.bin %> stats demo', '<%= config.bin %> stats demo --json']
  static override args = {name: Args.string({description: 'sandbox name', required: true})}

  async run(): Promise<SandboxStats> {
    const {args} = await this.parse(Stats)
    const s = await sandboxStats(args.name)
    if (!this.jsonEnabled()) {
      this.log(`${s.name}: ${s.state}${s.uptimeSec !== undefined ? `, up ${s.uptimeSec}s` : ''}`)
      if (s.process) this.log(`cpu ${s.process.cpuSeconds.toFixed(1)}s  memory ${humanSize(s.process.rssBytes)}  (${s.process.pids.length} processes)`)
      const e = s.egress
      this.log(`egress: ${e.requests} requests (${e.allowed} allowed, ${e.blocked} blocked${e.errors ? `, ${e.errors} errors` : ''}), ${humanSize(e.bytesUp)} up, ${humanSize(e.bytesDown)} down`)
      for (const h of e.hosts.slice(0, 20)) this.log(`  ${h.host.padEnd(32)} ${String(h.requests).padStart(5)} req ${String(h.blocked).padStart(4)} blocked  ${humanSize(h.bytesUp)} up  ${humanSize(h.bytesDown)} down`)
    }
    return s
  }
}
