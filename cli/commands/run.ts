import {Args, Flags, Interfaces} from '@oclif/core'
import {randomBytes} from 'node:crypto'
import {writeFile, rename} from 'node:fs/promises'
import {runDetached, type DetachedSandbox} from '../../runtime/sandbox/detach.js'
import {runSandbox, type RunSandboxResult} from '../../runtime/sandbox/run.js'
import type {RunningSandbox} from '../../runtime/vm/driver.js'
import {KitCommand} from '../base.js'

export default class Run extends KitCommand {
  static override description = `Run an agent kit (with mixins stacked in order) in a sandbox: a microVM with its own kernel that sees only the workspace, every request going through the sandbox's policy proxy.
With a command after --, runs it as the agent (uid 1000) in the workspace and exits with its exit code; without one, attaches your terminal to the agent kit's entrypoint + command.interactive (entrypoint + command.default when stdin is not a terminal). --tty forces a terminal (also for a command after --), --no-tty forces none. --detach runs it in the background (without a command, the sandbox holds until \`kit stop\`). \`kit exec NAME -- CMD\` runs more commands in the running sandbox. The sandbox keeps its resolved kit set (store kits by digest, directory kits as a copy): \`kit run --name NAME\` starts it again with no other flags.
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
    detach: Flags.boolean({char: 'd', description: 'run in the background: prints the sandbox name (--name, else one picked) and returns once the sandbox runs; without a command it holds until kit stop. kit exec NAME -- CMD runs in it'}),
    rm: Flags.boolean({description: 'remove the sandbox (its state and logs) when the run ends, however it ends (as docker run --rm)'}),
    quiet: Flags.boolean({char: 'q', description: 'no progress lines (fetching, unpacking, building); warnings and errors still show'}),
    hold: Flags.boolean({description: 'no command: hold the sandbox up after set-up until it is stopped', hidden: true}),
    tty: Flags.boolean({char: 't', description: 'run on a terminal in the sandbox (default: when there is no command after -- and stdin is a terminal)', allowNo: true}),
    report: Flags.string({description: 'write a JSON report {name, driver, bootMs, exitCode} to FILE'}),
    'connect-to': Flags.string({description: 'proxy test resolver HOST:PORT:ADDR:PORT (tests; also KIT_PROXY_CONNECT_TO)', multiple: true, hidden: true}),
    'upstream-ca': Flags.string({description: 'extra CA (PEM file) the proxy trusts upstream (tests; also KIT_PROXY_UPSTREAM_CA)', multiple: true, hidden: true}),
  }

  async run(): Promise<Omit<RunSandboxResult, 'stdout' | 'stderr'> | DetachedSandbox> {
    const dd = this.argv.indexOf('--')
    const own = dd >= 0 ? this.argv.slice(0, dd) : this.argv
    const command = dd >= 0 ? this.argv.slice(dd + 1) : undefined
    const {args, flags, argv} = await this.parse(Run, own)
    const extra = (argv as string[]).slice(args.agent === undefined ? 0 : 1)
    if (extra.length > 0) this.error(`unexpected argument ${JSON.stringify(extra[0])}: put the command after --`, {exit: 2})
    if (dd >= 0 && command!.length === 0) this.error('nothing after --: give a command, or leave out --', {exit: 2})
    const json = this.jsonEnabled()
    if (flags.detach) {
      if (flags.tty) this.error('--detach runs without a terminal: leave out --tty', {exit: 2})
      if (!flags.name && args.agent === undefined) this.error('name an agent kit, or --name of an existing sandbox to start it again', {exit: 2})
      // Without --name, a name is picked here (AGENT-xxxxxx, as kit run does): the background
      // process gets it, and it is the one printed.
      const name = flags.name ?? pickName(args.agent!)
      // The same command line, without --detach, for the background process (it holds without a command).
      const again = own.filter((a) => a !== '--detach' && a !== '-d')
      const args2 = ['run', ...again, ...(flags.name ? [] : ['--name', name]), '--no-tty', ...(command ? ['--', ...command] : ['--hold'])]
      const started = await runDetached([process.execPath, process.argv[1]!], args2, name)
      if (!json) this.log(`sandbox ${started.name} runs in the background (pid ${started.pid}, output in ${started.log}): kit exec ${started.name} -- CMD; kit stop ${started.name}`)
      return started
    }
    const useTerminal = flags.tty ?? (!command && Boolean(process.stdin.isTTY))
    const out = json ? process.stderr : process.stdout
    let running: RunningSandbox | undefined
    const onResize = () => running?.resize?.(out.rows ?? 24, out.columns ?? 80)
    if (useTerminal) {
      // Keys go to the sandbox as typed (^C included: it interrupts the program in the sandbox).
      if (process.stdin.isTTY) process.stdin.setRawMode(true)
      process.stdin.resume()
      out.on('resize', onResize)
    }
    let result: RunSandboxResult
    try {
      result = await this.start(args.agent, flags, command, useTerminal, out, (r) => (running = r))
    } finally {
      if (useTerminal) {
        out.off('resize', onResize)
        if (process.stdin.isTTY) process.stdin.setRawMode(false)
        process.stdin.pause()
      }
    }
    const {stdout: _o, stderr: _e, ...rest} = result
    if (flags.report) {
      const tmp = `${flags.report}.${process.pid}.tmp`
      await writeFile(tmp, JSON.stringify({name: rest.name, driver: rest.driver, bootMs: rest.bootMs, exitCode: rest.exitCode, vmBootMs: rest.vmBootMs, accel: rest.accel, durationMs: rest.durationMs}, null, 2) + '\n')
      await rename(tmp, flags.report)
    }
    process.exitCode = rest.exitCode
    return rest
  }

  private start(agent: string | undefined, flags: Interfaces.InferredFlags<typeof Run.flags>, command: string[] | undefined, useTerminal: boolean, out: NodeJS.WriteStream, onRunning: (r: RunningSandbox) => void): Promise<RunSandboxResult> {
    const json = this.jsonEnabled()
    return runSandbox({
      agent,
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
      remove: flags.rm,
      hold: flags.hold,
      interactive: useTerminal && !command,
      ...(useTerminal ? {terminal: {input: process.stdin, output: out, rows: out.rows, cols: out.columns}} : {}),
      onRunning,
      connectTo: flags['connect-to'],
      upstreamCaFiles: flags['upstream-ca'],
      // With --json, stdout carries the JSON object: the command's output goes to stderr.
      stdout: json ? process.stderr : process.stdout,
      stderr: process.stderr,
      warn: (l) => process.stderr.write(l + '\n'),
      // One line per stage (kernel fetch, image unpack, root image build), none with --quiet or --json.
      progress: (l) => {
        if (!flags.quiet && !json) process.stderr.write(`kit: ${l}\n`)
      },
    })
  }
}

/** A sandbox name from an agent reference: its last path or repository segment, without tag or digest, and 6 random hex digits. */
export function pickName(agent: string): string {
  const last = agent.replace(/@.*$/, '').replace(/\/+$/, '').split('/').pop() ?? ''
  const base = last.replace(/:[^:]*$/, '').toLowerCase().replace(/[^a-z0-9_.-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '').slice(0, 50)
  return `${base || 'kit'}-${randomBytes(3).toString('hex')}`
}
