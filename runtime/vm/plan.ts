// The guest plan: what the guest init does after the root filesystem is up, in the order of
// kit-format.md §5. The runtime builds it from the composed kits; a VM driver ships it into the
// guest. The guest init (runtime/guest/stage2.sh) is generic: the host compiles the plan into a
// list of calls with single-quoted arguments (plan.sh) because busybox has no JSON parser; the
// JSON itself travels beside it (plan.json) for the record.

import type {InstallCommand, SetupFile as KitSetupFile, StartupCommand} from '../../kit-compiler/model.js'

/** A user as kits name one: "0", "1000" (or a name the image has, such as "root" or "agent"). */
export type GuestUser = string

/** A setup.install step (schemas/kit-v2): a `sh -c` string, as root unless `user` says otherwise. */
export type InstallStep = InstallCommand

/** A setup.files entry (schemas/kit-v2): `${WORKDIR}` in content is the only substitution; mode default "0644". */
export type SetupFile = KitSetupFile

/**
 * A setup.startup step (schemas/kit-v2): argv, as uid 1000 unless `user` says otherwise. The schema
 * types argv as non-empty; the plan compiler checks that itself, so here it is a plain list.
 */
export type StartupStep = Omit<StartupCommand, 'command'> & {command: string[]}

export interface MemoryFile {
  /** Absolute guest path (e.g. /home/agent/CLAUDE.md). */
  path: string
  content: string
}

export interface GuestPlan {
  /** setup.install of every kit, in kit order: once, as root unless `user` says otherwise. */
  install: InstallStep[]
  /** setup.files of every kit (duplicates already resolved: later kit wins). */
  files: SetupFile[]
  /** setup.startup of every kit. */
  startup: StartupStep[]
  /** The agent's memory file and the per-mixin files it lists (see renderMemory). */
  memory?: MemoryFile[]
  /** The sandbox kit's entrypoint + command, run when the VM spec has no command. */
  entrypoint?: string[]
  /** The agent's home (default /home/agent). */
  home?: string
  /** Guest hostname (default: the VM name). */
  hostname?: string
}

export const EMPTY_PLAN: GuestPlan = {install: [], files: [], startup: []}

/** What a sandbox started without a command in the background runs: nothing, until it is stopped. */
export const HOLD_COMMAND = ['/.kit/bin/busybox', 'sleep', '2147483647']

const KITS_START = '<!-- sbx:kits-section start -->'
const KITS_END = '<!-- sbx:kits-section end -->'

/**
 * The agent's memory: `dir/filename` holds the agent kit's content and a `## Kits` section listing
 * one file per mixin (`dir/kits-memory/NAME.md`), as sbx lays it out.
 */
export function renderMemory(
  dir: string,
  filename: string,
  agentContent: string,
  mixins: {name: string; content: string}[],
): MemoryFile[] {
  const base = dir.replace(/\/+$/, '')
  const files: MemoryFile[] = []
  let main = agentContent
  const withContent = mixins.filter(m => m.content.trim() !== '')
  if (withContent.length > 0) {
    if (main && !main.endsWith('\n')) main += '\n'
    main += `\n${KITS_START}\n## Kits\n\n`
    for (const m of withContent) {
      main += `- ${m.name}: see kits-memory/${m.name}.md\n`
      files.push({path: `${base}/kits-memory/${m.name}.md`, content: m.content.endsWith('\n') ? m.content : m.content + '\n'})
    }
    main += `${KITS_END}\n`
  }
  return [{path: `${base}/${filename}`, content: main}, ...files]
}

/** Single-quotes a string for sh: any byte but NUL survives. */
export function shQuote(s: string): string {
  if (s.includes('\0')) throw new Error('a NUL byte cannot be passed to the guest')
  return `'${s.replace(/'/g, `'\\''`)}'`
}

/** What the host needs to know to compile a plan (VM-level facts, not kit facts). */
export interface GuestContext {
  hostname: string
  workdir: string
  /** Number of kit layers mounted at /.kit/layers/0..N-1, in stack order. */
  layers: number
  /** Static address of eth0 (QEMU user net), or undefined when the VM has no NIC. */
  address?: string
  caCertPem?: string
  /** Environment of the agent (uid 1000) and of root-run steps (install commands). */
  agentEnv: Record<string, string>
  rootEnv: Record<string, string>
  /** The command to run; falls back to plan.entrypoint. */
  command?: string[]
}

export interface CompiledPlan {
  /** path under /kit in the initramfs → content */
  files: Map<string, {data: string; mode: number}>
}

function modeOf(mode: string | undefined, where: string): string {
  const m = mode ?? '0644'
  if (!/^0?[0-7]{3,4}$/.test(m)) throw new Error(`${where}: mode ${JSON.stringify(m)} is not an octal mode`)
  return m
}

function envScript(env: Record<string, string>): string {
  let out = ''
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`environment variable name ${JSON.stringify(k)} is not valid`)
    out += `export ${k}=${shQuote(v)}\n`
  }
  return out
}

/** Compiles a plan into the files the guest init reads from /kit. */
export function compilePlan(plan: GuestPlan, ctx: GuestContext): CompiledPlan {
  const files = new Map<string, {data: string; mode: number}>()
  let n = 0
  const data = (content: string): string => {
    const name = `data/${n++}`
    files.set(name, {data: content, mode: 0o600})
    return name
  }
  const q = shQuote
  const home = plan.home ?? '/home/agent'
  const lines: string[] = ['# generated by kit: calls into /.kit/stage2.sh']
  lines.push(`kit_workdir ${q(ctx.workdir)}`)
  lines.push(`kit_hostname ${q(plan.hostname ?? ctx.hostname)}`)
  // (1) network and env (the env files are read by every step that runs a program)
  lines.push(`kit_network ${q(ctx.address ?? '')}`)
  if (ctx.caCertPem) lines.push(`kit_ca ${q(data(ctx.caCertPem))}`)
  lines.push(`kit_user ${q('agent')} ${q(home)}`)
  // (2) files/home
  for (let i = 0; i < ctx.layers; i++) lines.push(`kit_home_layer ${i}`)
  // (3) setup.install
  plan.install.forEach((s, i) => lines.push(`kit_install ${i} ${q(s.user ?? '0')} ${q(data(s.command))}`))
  // (4) setup.files
  plan.files.forEach((f, i) => {
    if (!f.path.startsWith('/')) throw new Error(`setup.files[${i}]: path ${JSON.stringify(f.path)} is not absolute`)
    const content = f.content.split('${WORKDIR}').join(ctx.workdir)
    lines.push(`kit_file files ${i} ${q(f.path)} ${q(modeOf(f.mode, `setup.files[${i}]`))} ${f.onlyIfMissing ? 1 : 0} ${q(data(content))}`)
  })
  // (5) setup.startup
  plan.startup.forEach((s, i) => {
    if (s.command.length === 0) throw new Error(`setup.startup[${i}]: empty command`)
    lines.push(`kit_startup ${i} ${q(s.user ?? '1000')} ${s.background ? 1 : 0} ${s.command.map(q).join(' ')}`)
  })
  // (6) files/workspace
  for (let i = 0; i < ctx.layers; i++) lines.push(`kit_workspace_layer ${i}`)
  // (7) agent memory
  ;(plan.memory ?? []).forEach((m, i) => {
    if (!m.path.startsWith('/')) throw new Error(`memory[${i}]: path ${JSON.stringify(m.path)} is not absolute`)
    lines.push(`kit_file memory ${i} ${q(m.path)} '0644' 0 ${q(data(m.content))}`)
  })
  // (8) the command
  const argv = ctx.command ?? plan.entrypoint
  if (!argv || argv.length === 0) throw new Error('no command and no entrypoint to run')
  lines.push(`kit_run ${argv.map(q).join(' ')}`)

  files.set('plan.sh', {data: lines.join('\n') + '\n', mode: 0o600})
  files.set('agent-env.sh', {data: envScript(ctx.agentEnv), mode: 0o600})
  files.set('root-env.sh', {data: envScript(ctx.rootEnv), mode: 0o600})
  files.set('plan.json', {data: JSON.stringify({plan, context: {...ctx, caCertPem: ctx.caCertPem ? '(set)' : undefined}}, null, 2) + '\n', mode: 0o600})
  return {files}
}
