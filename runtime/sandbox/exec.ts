// `kit exec NAME -- CMD`: into the running sandbox through its control socket (the `kit run`
// process that owns it runs the command beside the agent's, as the agent, in the workspace). A
// sandbox that is not running gets a fresh boot of its recorded definition for the one command.
import type {Writable} from 'node:stream'
import {execViaControl} from './control.js'
import {liveState, readDefinition, readState} from './state.js'

export interface ExecOptions {
  stdout: Writable
  stderr: Writable
  /** Working directory in the sandbox (default: the workspace). */
  cwd?: string
  env?: NodeJS.ProcessEnv
  progress?: (line: string) => void
  warn?: (line: string) => void
}

export interface ExecResult {
  name: string
  exitCode: number
  /** true: ran in the running sandbox; false: in a fresh boot of its definition. */
  running: boolean
  driver: string
  bootMs?: number
}

export async function execInSandbox(name: string, argv: string[], opts: ExecOptions): Promise<ExecResult> {
  const env = opts.env ?? process.env
  const def = await readDefinition(name, env)
  const st = await readState(name, env)
  if (liveState(st) === 'running' && st.control) {
    const exitCode = await execViaControl(st.control, {argv, ...(opts.cwd ? {cwd: opts.cwd} : {})}, opts, `sandbox ${name}`)
    return {name, exitCode, running: true, driver: st.driver ?? def.config.driver}
  }
  opts.progress?.(`sandbox ${name} is not running: running the command in a fresh boot of it`)
  // Loaded only here: the running-sandbox path above needs none of the runtime's start-up code.
  const {runSandbox} = await import('./run.js')
  const r = await runSandbox({
    name,
    command: argv,
    exec: true,
    env,
    stdout: opts.stdout,
    stderr: opts.stderr,
    ...(opts.warn ? {warn: opts.warn} : {}),
    ...(opts.progress ? {progress: opts.progress} : {}),
  })
  return {name, exitCode: r.exitCode, running: false, driver: r.driver, bootMs: r.bootMs}
}
