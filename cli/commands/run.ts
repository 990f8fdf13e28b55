import {Args, Flags} from '@oclif/core'
import {writeFile, rename} from 'node:fs/promises'
import {runSandbox, type RunSandboxResult} from '../../runtime/sandbox/run.js'
import {KitCommand} from '../base.js'

export default class Run extends KitCommand {
  static override description = `Run an agent kit (with mixins stacked in order) in a sandbox: a microVM with its own kernel that sees only the workspace, every request going through the sandbox's policy proxy.
With a command after --, runs it as the agent (uid 1000) in the workspace and exits with its exit code; without one, runs the agent kit's entrypoint + command.default (no terminal is attached yet: command.interactive is not used). The sandbox keeps its resolved kit set (store kits by digest, directory kits as a copy): \`kit run --name NAME\` starts it again with no other flags.
The docker driver (--driver docker) runs the sandbox in a container instead: it shares the host kernel (no VM boundary), for hosts without a hypervisor; it needs a local Docker engine and root (it firewalls the container's bridge).`
  static override examples = [
    '<%= config.bin %> run ./sample-kits/shell-agent --kit ./sample-kits/github --workspace ./my-project -- git status',
    '<%= config.bin %> run shell-agent:1.0.0 --kit shellcheck:1.0.0 --workspace . --name demo --policy balanced',
    '<%= config.bin %> run --name demo',
  ]
  static override strict = false
  static override args = {agent: Args.string({description: 'agent kit: a directory, a store reference (name:tag, name@sha256:…) or a registry reference', required: false})}
  static override flags = {
    kit: Flags.string({description: 'mixin kit (directory, store or registry reference); repeatable, stacked in order', multiple: true}),
    workspace: Flags.string({char: 'w', description: 'host directory the sandbox works in (never / or your home directory)'}),
    name: Flags.string({char: 'n', description: 'sandbox name (default: AGENT-xxxxxx); an existing name restarts that sandbox'}),
    driver: Flags.string({description: 'qemu (a microVM with its own kernel) or docker (a container that shares the host kernel)', options: ['qemu', 'docker']}),
    policy: Flags.string({description: 'network policy tier under the kits\' rules (default: the local policy\'s tier)', options: ['balanced', 'allow-all', 'deny-all']}),
    cpus: Flags.integer({description: 'virtual CPUs (default: the agent kit\'s sandbox.resources.cpu, else 2)'}),
    memory: Flags.string({description: 'memory, e.g. 2g or 1536m (default: the agent kit\'s, else 1g)'}),
    'kit-arg': Flags.string({description: 'kit argument NAME=VALUE or KIT.NAME=VALUE (scoped wins); repeatable', multiple: true}),
    'kit-args-file': Flags.string({description: 'YAML file with an args: map (flags win)'}),
    report: Flags.string({description: 'write a JSON report {name, driver, bootMs, exitCode} to FILE'}),
    'connect-to': Flags.string({description: 'proxy test resolver HOST:PORT:ADDR:PORT (tests; also KIT_PROXY_CONNECT_TO)', multiple: true, hidden: true}),
    'upstream-ca': Flags.string({description: 'extra CA (PEM file) the proxy trusts upstream (tests; also KIT_PROXY_UPSTREAM_CA)', multiple: true, hidden: true}),
  }

  async run(): Promise<Omit<RunSandboxResult, 'stdout' | 'stderr'>> {
    const dd = this.argv.indexOf('--')
    const own = dd >= 0 ? this.argv.slice(0, dd) : this.argv
    const command = dd >= 0 ? this.argv.slice(dd + 1) : undefined
    const {args, flags, argv} = await this.parse({...Run, strict: false} as typeof Run, own)
    const extra = (argv as string[]).slice(args.agent === undefined ? 0 : 1)
    if (extra.length > 0) this.error(`unexpected argument ${JSON.stringify(extra[0])}: put the command after --`, {exit: 2})
    if (dd >= 0 && command!.length === 0) this.error('nothing after --: give a command, or leave out --', {exit: 2})
    const json = this.jsonEnabled()
    if (!command && process.stdin.isTTY) {
      process.stderr.write("kit: the qemu driver cannot attach a terminal yet: running the agent's headless command (entrypoint + command.default)\n")
    }
    const result = await runSandbox({
      agent: args.agent,
      kits: flags.kit ?? [],
      name: flags.name,
      workspace: flags.workspace,
      driver: flags.driver as 'qemu' | 'docker' | undefined,
      policy: flags.policy,
      cpus: flags.cpus,
      memory: flags.memory,
      kitArgs: flags['kit-arg'] ?? [],
      kitArgsFile: flags['kit-args-file'],
      command,
      connectTo: flags['connect-to'],
      upstreamCaFiles: flags['upstream-ca'],
      // With --json, stdout carries the JSON object: the command's output goes to stderr.
      stdout: json ? process.stderr : process.stdout,
      stderr: process.stderr,
      warn: (l) => process.stderr.write(l + '\n'),
      progress: (l) => process.stderr.write(`kit: ${l}\n`),
    })
    const {stdout: _o, stderr: _e, ...out} = result
    if (flags.report) {
      const tmp = `${flags.report}.${process.pid}.tmp`
      await writeFile(tmp, JSON.stringify({name: out.name, driver: out.driver, bootMs: out.bootMs, exitCode: out.exitCode, vmBootMs: out.vmBootMs, accel: out.accel, durationMs: out.durationMs}, null, 2) + '\n')
      await rename(tmp, flags.report)
    }
    process.exitCode = out.exitCode
    return out
  }
}
