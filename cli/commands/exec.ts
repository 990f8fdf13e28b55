import {Args} from '@oclif/core'
import {runSandbox} from '../../runtime/sandbox/run.js'
import {KitCommand} from '../base.js'

export default class Exec extends KitCommand {
  static override description = `Run a command in a sandbox's definition (its kits, args, workspace, policy) and exit with its exit code.
The qemu driver has no exec into a running VM yet: this boots a fresh VM of the same sandbox (same kits by digest, same workspace, its own proxy) for the command, beside the running one if any.`
  static override examples = ['<%= config.bin %> exec demo -- git status']
  static override strict = false
  static override args = {name: Args.string({description: 'sandbox name', required: true})}

  async run(): Promise<{name: string; exitCode: number; bootMs: number; driver: string}> {
    const dd = this.argv.indexOf('--')
    const own = dd >= 0 ? this.argv.slice(0, dd) : this.argv
    const command = dd >= 0 ? this.argv.slice(dd + 1) : []
    const {args} = await this.parse(Exec, own)
    if (command.length === 0) this.error('give the command after --: kit exec NAME -- CMD ARGS...', {exit: 2})
    const json = this.jsonEnabled()
    const r = await runSandbox({
      name: args.name,
      command,
      exec: true,
      stdout: json ? process.stderr : process.stdout,
      stderr: process.stderr,
      warn: (l) => process.stderr.write(l + '\n'),
      progress: (l) => process.stderr.write(`kit: ${l}\n`),
    })
    process.exitCode = r.exitCode
    return {name: r.name, exitCode: r.exitCode, bootMs: r.bootMs, driver: r.driver}
  }
}
