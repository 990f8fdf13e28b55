// A sandbox on disk: $KIT_HOME/sandboxes/NAME holds
//   sandbox.json   its definition: the resolved kits (store kits by digest), the kit args, the
//                  agent image (by manifest digest), the run configuration (workspace, driver,
//                  policy tier, resources). `kit run --name NAME` with no kits reuses it.
//   state.json     the current or last run: state, pid of the `kit run` process that owns the VM
//                  and proxy, start/end times, exit code, boot time.
//   egress.log     the proxy's audit log (JSON lines), appended by every run.
//   setup.log      the guest's setup output (install/startup commands) of the last run.
//   layers/        the kit layers of the last run.
import {existsSync} from 'node:fs'
import {chmod, lstat, mkdir, readdir, readFile, rename, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {sandboxesDir} from '../home.js'
import {SandboxError} from './errors.js'
import {cmdlineOf, commOf, processTree} from './procs.js'
import type {KitSource} from './resolve.js'

export const SANDBOX_NAME = /^[a-z0-9]([a-z0-9_.-]{0,62}[a-z0-9])?$/

export interface SandboxConfig {
  workspace: string
  driver: 'qemu' | 'docker'
  policy?: 'balanced' | 'allow-all' | 'deny-all'
  cpus?: number
  memoryMiB?: number
  /** Test resolver entries (curl's --connect-to syntax) for the proxy. */
  connectTo?: string[]
  /** Extra upstream CA files (PEM) the proxy trusts. */
  upstreamCaFiles?: string[]
}

export interface SandboxDefinition {
  version: 1
  name: string
  created: string
  agent: string
  kits: Array<KitSource & {name: string; kind: string; version?: string}>
  args: Record<string, string>
  image: {reference: string; digest?: string}
  config: SandboxConfig
}

export type RunState = 'created' | 'starting' | 'running' | 'exited' | 'failed' | 'stopped'

export interface SandboxState {
  state: RunState
  /** The `kit run` process owning the VM and the proxy. */
  pid?: number
  startedAt?: string
  endedAt?: string
  exitCode?: number
  bootMs?: number
  error?: string
  driver?: string
  accel?: string
  /** The command of the last run. */
  command?: string[]
  /** The control socket of the running sandbox (`kit exec`): runtime/sandbox/control.ts. */
  control?: string
  /** The VM process (QEMU) of the current run. */
  vmPid?: number
}

export function sandboxDir(name: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(sandboxesDir(env), name)
}

export function checkSandboxName(name: string): void {
  if (!SANDBOX_NAME.test(name)) {
    throw new SandboxError('USAGE', `sandbox name ${JSON.stringify(name)} is not valid (lower-case letters, digits, ".", "_", "-"; at most 64)`)
  }
}

async function writeJson(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, JSON.stringify(value, null, 2) + '\n', {mode: 0o600})
  await rename(tmp, path)
}

/**
 * The sandbox's directory, made private to the user: 0700, and the files directly in it (state,
 * definition, logs) 0600. Directories made by older kit versions (0755, 0644) are fixed here, on
 * the next write. Symlinks are left alone (lstat), subdirectories (kit snapshots, layers) keep the
 * kit files' own modes behind the 0700 directory.
 */
export async function privateSandboxDir(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const dir = sandboxDir(name, env)
  await mkdir(dir, {recursive: true, mode: 0o700})
  const st = await lstat(dir)
  if (st.isDirectory() && (st.mode & 0o777) !== 0o700) await chmod(dir, 0o700)
  for (const entry of await readdir(dir, {withFileTypes: true})) {
    if (!entry.isFile()) continue
    const p = join(dir, entry.name)
    const m = (await lstat(p).catch(() => undefined))?.mode
    if (m !== undefined && (m & 0o077) !== 0) await chmod(p, m & 0o700).catch(() => {})
  }
  return dir
}

export async function readDefinition(name: string, env: NodeJS.ProcessEnv = process.env): Promise<SandboxDefinition> {
  checkSandboxName(name)
  const file = join(sandboxDir(name, env), 'sandbox.json')
  let def: unknown
  try {
    def = JSON.parse(await readFile(file, 'utf8'))
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new SandboxError('SANDBOX_NOT_FOUND', `no sandbox named ${name} (kit ls lists them)`)
    throw new SandboxError('SANDBOX_STATE', `${file}: not valid JSON (${(e as Error).message}); kit rm --sandbox ${name} removes it`)
  }
  const problem = definitionProblem(def)
  if (problem) throw new SandboxError('SANDBOX_STATE', `${file}: ${problem}; kit rm --sandbox ${name} removes it`)
  return def as SandboxDefinition
}

/** What makes a parsed sandbox.json unusable, or undefined when it has what kit reads. */
function definitionProblem(def: unknown): string | undefined {
  if (def === null || typeof def !== 'object' || Array.isArray(def)) return 'not a JSON object'
  const d = def as Partial<SandboxDefinition>
  if (typeof d.agent !== 'string') return 'no agent'
  if (!Array.isArray(d.kits) || d.kits.some((k) => k === null || typeof k !== 'object' || typeof k.name !== 'string')) return 'no kits list'
  if (d.config === null || typeof d.config !== 'object') return 'no config'
  if (typeof d.config.workspace !== 'string') return 'no config.workspace'
  if (d.config.driver !== 'qemu' && d.config.driver !== 'docker') return 'no config.driver'
  return undefined
}

const RUN_STATES: readonly string[] = ['created', 'starting', 'running', 'exited', 'failed', 'stopped']

export async function writeDefinition(def: SandboxDefinition, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const dir = await privateSandboxDir(def.name, env)
  await writeJson(join(dir, 'sandbox.json'), def)
}

export async function readState(name: string, env: NodeJS.ProcessEnv = process.env): Promise<SandboxState> {
  const file = join(sandboxDir(name, env), 'state.json')
  let st: unknown
  try {
    st = JSON.parse(await readFile(file, 'utf8'))
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {state: 'created'}
    throw new SandboxError('SANDBOX_STATE', `${file}: not valid JSON (${(e as Error).message})`)
  }
  if (st === null || typeof st !== 'object' || !RUN_STATES.includes((st as SandboxState).state)) {
    throw new SandboxError('SANDBOX_STATE', `${file}: no valid state`)
  }
  return st as SandboxState
}

export async function writeState(name: string, state: SandboxState, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const dir = await privateSandboxDir(name, env)
  await writeJson(join(dir, 'state.json'), state)
}

export function pidAlive(pid: number | undefined): boolean {
  if (!pid) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The state as it really is: a "running" sandbox whose owner process is gone is "dead". */
export function liveState(s: SandboxState): RunState | 'dead' {
  if ((s.state === 'running' || s.state === 'starting') && !pidAlive(s.pid)) return 'dead'
  return s.state
}

export interface ListedSandbox {
  name: string
  agent: string
  kits: Array<{name: string; digest?: string; source: string}>
  /** 'unknown': its state.json is unreadable (see the warnings). */
  state: RunState | 'dead' | 'unknown'
  driver: string
  workspace: string
  /** Seconds since the current run started (running sandboxes only). */
  uptimeSec?: number
  exitCode?: number
  /** The docker driver shares the host kernel; said plainly wherever sandboxes are listed. */
  isolation: string
}

export function isolationOf(driver: string): string {
  return driver === 'docker' ? 'container: shares the host kernel' : 'microVM: own kernel'
}

export async function listSandboxes(env: NodeJS.ProcessEnv = process.env): Promise<ListedSandbox[]> {
  return (await listSandboxesChecked(env)).sandboxes
}

/** A state file kit could not read: `kit ls` says which and goes on. */
export interface StateWarning {
  path: string
  message: string
}

/** Every sandbox kit can read, and a warning (with its path) for each bad sandbox.json or state.json. */
export async function listSandboxesChecked(env: NodeJS.ProcessEnv = process.env): Promise<{sandboxes: ListedSandbox[]; warnings: StateWarning[]}> {
  const root = sandboxesDir(env)
  const warnings: StateWarning[] = []
  if (!existsSync(root)) return {sandboxes: [], warnings}
  const out: ListedSandbox[] = []
  const problem = (e: unknown, path: string): StateWarning => {
    const message = (e as Error).message
    return message.startsWith(path + ': ') ? {path, message: message.slice(path.length + 2)} : {path, message}
  }
  for (const name of (await readdir(root)).sort()) {
    if (!SANDBOX_NAME.test(name) || !existsSync(join(root, name, 'sandbox.json'))) continue
    let def: SandboxDefinition
    try {
      def = await readDefinition(name, env)
    } catch (e) {
      warnings.push(problem(e, join(root, name, 'sandbox.json')))
      continue
    }
    let st: SandboxState | undefined
    try {
      st = await readState(name, env)
    } catch (e) {
      warnings.push(problem(e, join(root, name, 'state.json')))
    }
    const state = st ? liveState(st) : 'unknown'
    st ??= {state: 'created'}
    const item: ListedSandbox = {
      name,
      agent: def.agent,
      kits: def.kits.map((k) => ({name: k.name, source: k.source, ...(k.digest ? {digest: k.digest} : {})})),
      state,
      driver: def.config.driver,
      workspace: def.config.workspace,
      isolation: isolationOf(def.config.driver),
    }
    if (state === 'running' && st.startedAt) item.uptimeSec = Math.max(0, Math.round((Date.now() - Date.parse(st.startedAt)) / 1000))
    if (st.exitCode !== undefined) item.exitCode = st.exitCode
    out.push(item)
  }
  return {sandboxes: out, warnings}
}

export interface RemoveSandboxResult {
  name: string
  /** Whether a live run was stopped first. */
  stopped: boolean
}

/**
 * Kills the VM a run recorded if it outlived its `kit run` process (killed outright): only when the
 * pid is still a QEMU sharing this sandbox's workspace, so a recycled pid is never touched.
 */
export function killStaleVm(st: SandboxState, workspace: string): boolean {
  if (!st.vmPid || pidAlive(st.pid) || !pidAlive(st.vmPid)) return false
  if (!commOf(st.vmPid).startsWith('qemu-system')) return false
  if (!cmdlineOf(st.vmPid).some((a) => a.includes(`path=${workspace.replace(/,/g, ',,')},`))) return false
  try {
    process.kill(-st.vmPid, 'SIGKILL') // its process group: QEMU and its connectors
  } catch {
    try {
      process.kill(st.vmPid, 'SIGKILL')
    } catch {
      return false
    }
  }
  return true
}

/**
 * What a killed `kit run` of a docker sandbox left (container, network, firewall rules; found by
 * their labels, runtime/docker/cleanup.ts): removed when their owner process is gone.
 */
async function cleanupDocker(name: string, def: SandboxDefinition, env: NodeJS.ProcessEnv): Promise<boolean> {
  if (def.config.driver !== 'docker') return false
  const {cleanupDockerSandbox} = await import('../docker/cleanup.js')
  const r = await cleanupDockerSandbox(name, {env}).catch(() => undefined)
  return (r?.containers ?? 0) > 0
}

/** Stops a live run (unless it is refused) and deletes the sandbox's directory. */
export async function removeSandbox(name: string, opts: {force?: boolean; env?: NodeJS.ProcessEnv} = {}): Promise<RemoveSandboxResult> {
  const env = opts.env ?? process.env
  checkSandboxName(name)
  if (!existsSync(sandboxDir(name, env))) throw new SandboxError('SANDBOX_NOT_FOUND', `no sandbox named ${name} (kit ls lists them)`)
  // A broken sandbox (bad sandbox.json or state.json) is removed as it is: nothing in it can run.
  const def = await readDefinition(name, env).catch((e: SandboxError) => {
    if (e.code === 'SANDBOX_STATE' || e.code === 'SANDBOX_NOT_FOUND') return undefined
    throw e
  })
  const st = await readState(name, env).catch((e: SandboxError) => {
    if (e.code === 'SANDBOX_STATE') return undefined
    throw e
  })
  if (!def || !st) {
    if (st && pidAlive(st.pid) && (st.state === 'running' || st.state === 'starting') && !opts.force) {
      throw new SandboxError('SANDBOX_RUNNING', `sandbox ${name} is running (pid ${st.pid}): kit stop ${name} first, or remove with --force`)
    }
    if (st && pidAlive(st.pid) && (st.state === 'running' || st.state === 'starting')) process.kill(st.pid!, 'SIGTERM')
    await rm(sandboxDir(name, env), {recursive: true, force: true})
    return {name, stopped: false}
  }
  let stopped = killStaleVm(st, def.config.workspace)
  if (liveState(st) === 'running' || liveState(st) === 'starting') {
    if (!opts.force) throw new SandboxError('SANDBOX_RUNNING', `sandbox ${name} is running (pid ${st.pid}): kit stop ${name} first, or remove with --force`)
    await stopSandbox(name, {env})
    stopped = true
  }
  if (await cleanupDocker(name, def, env)) stopped = true
  await rm(sandboxDir(name, env), {recursive: true, force: true})
  return {name, stopped}
}

export interface StopResult {
  name: string
  /** What it was: running (and is now stopped), or already not running. */
  wasRunning: boolean
}

/**
 * Stops a running sandbox: SIGTERM to the `kit run` process that owns it (it stops the VM and the
 * proxy on its way out), SIGKILL to it and its process group after `graceMs`.
 */
export async function stopSandbox(name: string, opts: {env?: NodeJS.ProcessEnv; graceMs?: number} = {}): Promise<StopResult> {
  const env = opts.env ?? process.env
  const def = await readDefinition(name, env)
  const st = await readState(name, env)
  if (!pidAlive(st.pid) || !(st.state === 'running' || st.state === 'starting')) {
    const killed = killStaleVm(st, def.config.workspace) || (await cleanupDocker(name, def, env))
    if (st.state === 'running' || st.state === 'starting') await writeState(name, {...st, state: 'stopped', endedAt: new Date().toISOString()}, env)
    return {name, wasRunning: killed}
  }
  process.kill(st.pid!, 'SIGTERM')
  const deadline = Date.now() + (opts.graceMs ?? 15_000)
  while (pidAlive(st.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
  if (pidAlive(st.pid)) {
    // It did not stop in time: kill it and what it started (QEMU runs in its own process group).
    for (const pid of processTree(st.pid!).reverse()) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        /* gone */
      }
    }
  }
  await cleanupDocker(name, def, env)
  const after = await readState(name, env)
  if (after.state === 'running' || after.state === 'starting') await writeState(name, {...after, state: 'stopped', endedAt: new Date().toISOString()}, env)
  return {name, wasRunning: true}
}
