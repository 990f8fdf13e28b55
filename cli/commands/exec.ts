import {Args, Flags} from '@oclif/core'
import {execInSandbox, type ExecResult} from '../../runtime/sandbox/exec.js'
import {KitCommand} from '../base.js'

export default class Exec extends KitCommand {
  static override description = `Run a command in a sandbox, as the agent (uid 1000), and exit with its exit code.
In a running sandbox (one that \`kit run\` is running), the command runs beside the agent's, in the same VM or container, in the workspace (or --workdir). A sandbox that is not running gets a fresh boot of its definition (same kits by digest, same workspace, its own proxy) for the one command.`
  static override examples = ['<%= config.bin %> exec demo -- git status', '<%= config.bin %> exec demo --workdir /tmp -- ls']
  static override strict = false
  static override args = {name: Args.string({description: 'sandbox name', required: true})}
  static override flags = {
    workdir: Flags.string({char: 'W', description: 'working directory in the sandbox (absolute; default: the workspace)'}),
  }

  async run(): Promise<ExecResult> {
    const dd = this.argv.indexOf('--')
    const own = dd >= 0 ? this.argv.slice(0, dd) : this.argv
    const command = dd >= 0 ? this.argv.slice(dd + 1) : []
    const {args, flags} = await this.parse(Exec, own)
    if (command.length === 0) this.error('give the command after --: kit exec NAME -- CMD ARGS...', {exit: 2})
    const json = this.jsonEnabled()
    const r = await execInSandbox(args.name, command, {
      ...(flags.workdir ? {cwd: flags.workdir} : {}),
      // With --json, stdout carries the JSON object: the command's output goes to stderr.
      stdout: json ? process.stderr : process.stdout,
      stderr: process.stderr,
      warn: (l) => process.stderr.write(l + '\n'),
      progress: (l) => process.stderr.write(`kit: ${l}\n`),
    })
    process.exitCode = r.exitCode
    return r
  }
}
