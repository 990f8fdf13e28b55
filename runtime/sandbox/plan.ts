// The guest plan of a composed sandbox (kit-format.md §5): install, setup.files and startup of
// every kit in kit order; the agent's memory (the agent kit's agentInstructions.filename, default
// AGENTS.md, in the agent's home, with one kits-memory/<name>.md file per mixin listed in its
// `## Kits` section); the command (what follows `--`, else entrypoint + command.default); the
// environment (image env, kit env, then the placeholders of bound secrets — never a real value).
import type {ComposedSandbox} from '../../kit-compiler/compose.js'
import {renderMemory, type GuestPlan} from '../vm/plan.js'

export const AGENT_HOME = '/home/agent'
export const DEFAULT_MEMORY_FILE = 'AGENTS.md'

/** Variables the sandbox sets itself: a kit or an image cannot override them. */
const RESERVED = new Set(['HOME', 'USER', 'LOGNAME', 'SHELL', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'all_proxy', 'LD_PRELOAD', 'LD_LIBRARY_PATH'])

export interface PlanInput {
  sandbox: ComposedSandbox
  /** What follows `--` on the command line; replaces entrypoint + command. */
  command?: string[]
  /** Pick command.interactive instead of command.default. */
  interactive?: boolean
  /** The image config's Env (`NAME=value`). */
  imageEnv?: readonly string[]
  /** Env vars from the proxy: placeholders of bound secrets only. */
  placeholders?: Record<string, string>
  hostname?: string
}

export interface SandboxPlan {
  plan: GuestPlan
  /** The argv the guest runs as the agent. */
  command: string[]
  env: Record<string, string>
}

export function effectiveCommand(sandbox: ComposedSandbox, interactive = false): string[] {
  const args = interactive ? sandbox.agent.command.interactive : sandbox.agent.command.default
  return [...sandbox.agent.entrypoint, ...args]
}

export function guestEnvironment(sandbox: ComposedSandbox, imageEnv: readonly string[] = [], placeholders: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const line of imageEnv) {
    const eq = line.indexOf('=')
    if (eq <= 0) continue
    const k = line.slice(0, eq)
    if (!RESERVED.has(k) && /^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) env[k] = line.slice(eq + 1)
  }
  // The proxy variables in any case (kit validate warns about them; kit run prints that warning).
  for (const [k, v] of Object.entries(sandbox.environment)) if (!RESERVED.has(k) && !RESERVED.has(k.toUpperCase())) env[k] = v
  // A kit's apiKey.name gets a value only from the proxy, and only when its secret is bound.
  for (const c of sandbox.credentials) {
    const name = c.apiKey?.name
    if (name && !(name in placeholders) && sandbox.environmentSources[name] === undefined) delete env[name]
  }
  Object.assign(env, placeholders)
  return env
}

export function buildPlan(input: PlanInput): SandboxPlan {
  const {sandbox} = input
  const command = input.command && input.command.length > 0 ? [...input.command] : effectiveCommand(sandbox, input.interactive)
  if (command.length === 0) throw new Error(`agent kit ${sandbox.agent.name} has no entrypoint or command, and none was given after --`)
  const filename = sandbox.memory.filename ?? DEFAULT_MEMORY_FILE
  const memory = renderMemory(
    AGENT_HOME,
    filename,
    sandbox.memory.content ?? '',
    sandbox.memory.sections.map((s) => ({name: s.kit, content: s.content})),
  )
  const hasMemory = (sandbox.memory.content ?? '').trim() !== '' || sandbox.memory.sections.some((s) => s.content.trim() !== '')
  const plan: GuestPlan = {
    install: sandbox.install.map((c) => ({command: c.command, ...(c.user !== undefined ? {user: String(c.user)} : {}), ...(c.description ? {description: c.description} : {})})),
    files: sandbox.files.map((f) => ({
      path: f.path,
      content: f.content ?? '',
      ...(f.mode !== undefined ? {mode: String(f.mode)} : {}),
      ...(f.onlyIfMissing ? {onlyIfMissing: true} : {}),
      ...(f.description ? {description: f.description} : {}),
    })),
    startup: sandbox.startup.map((s) => ({
      command: Array.isArray(s.command) ? s.command.map(String) : ['/bin/sh', '-c', String(s.command)],
      ...(s.user !== undefined ? {user: String(s.user)} : {}),
      ...(s.background ? {background: true} : {}),
      ...(s.description ? {description: s.description} : {}),
    })),
    ...(hasMemory ? {memory} : {}),
    entrypoint: command,
    home: AGENT_HOME,
    ...(input.hostname ? {hostname: input.hostname} : {}),
  }
  return {plan, command, env: guestEnvironment(sandbox, input.imageEnv, input.placeholders)}
}
