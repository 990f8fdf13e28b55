// `kit run`: resolve the kits (or reuse a sandbox's recorded set), compose them, get the agent
// image's root filesystem, write the kit layers, start the sandbox's policy proxy, boot the VM
// with the guest plan, stream the command's output, and stop everything on every path. The
// process running this owns the VM and the proxy: `kit stop` signals it.
import {createWriteStream, existsSync, type WriteStream} from 'node:fs'
import {readFile, realpath, rm, stat} from 'node:fs/promises'
import {homedir} from 'node:os'
import {join, resolve} from 'node:path'
import type {Writable} from 'node:stream'
import {randomBytes} from 'node:crypto'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {ALLOWED_SOURCES, getSetting} from '../config.js'
import {kitHome, storeDir} from '../home.js'
import {diskFull, isDiskFull} from '../disk.js'
import {ensureImage} from '../image/resolve.js'
import {policyFromKit} from '../policy/from-kit.js'
import {readLocalPolicy, readOrgPolicy} from '../policy/local-policy.js'
import {Policy, type RuleLayer} from '../policy/policy.js'
import {isTier, type Tier} from '../policy/tiers.js'
import {startProxy, type RunningProxy} from '../proxy/server.js'
import {watchLocalPolicy, type LivePolicy} from '../proxy/live-policy.js'
import {SecretStore} from '../secrets/store.js'
import type {RunningSandbox, TerminalIo, VmDriver, VmResult, VmSpec} from '../vm/driver.js'
import {HOLD_COMMAND} from '../vm/plan.js'
import {controlSocketPath, serveControl, type ControlServer} from './control.js'
import {QemuDriver} from '../vm/qemu.js'
import {DockerDriver} from '../docker/driver.js'
import {SandboxError} from './errors.js'
import {writeKitLayers} from './layers.js'
import {commOf, processTree} from './procs.js'
import {buildPlan} from './plan.js'
import {composeSources, locateKit, readKitArgs, relocateKit, snapshotKit, type Composition, type KitSource} from './resolve.js'
import {enforceLaunchPolicy} from '../trust/launch.js'
import {loadSignaturePolicy} from '../trust/settings.js'
import {
  checkSandboxName,
  liveState,
  readDefinition,
  readState,
  sandboxDir,
  privateSandboxDir,
  writeDefinition,
  writeState,
  type SandboxConfig,
  type SandboxDefinition,
  type SandboxState,
} from './state.js'

export interface RunSandboxOptions {
  /** The agent kit; absent: reuse the sandbox `name`. */
  agent?: string
  /** Mixin kits, in order. */
  kits?: string[]
  name?: string
  workspace?: string
  driver?: 'qemu' | 'docker'
  policy?: string
  cpus?: number
  /** `2g`, `512m`, or MiB as a number. */
  memory?: string
  kitArgs?: string[]
  kitArgsFile?: string
  /** What follows `--`. */
  command?: string[]
  /** No command: after set-up the sandbox holds (for `kit exec`) until it is stopped (`kit run --detach`). */
  hold?: boolean
  /** Pick the agent kit's command.interactive (with a terminal). */
  interactive?: boolean
  /** Run the command on a terminal in the sandbox, typed into from `input`. */
  terminal?: TerminalIo
  /** Called once the command runs, with a handle on the running sandbox (resize, exec). */
  onRunning?: (sandbox: RunningSandbox) => void
  /** Test resolver entries for the proxy (curl's --connect-to); also KIT_PROXY_CONNECT_TO. */
  connectTo?: string[]
  /** PEM files of extra upstream CAs; also KIT_PROXY_UPSTREAM_CA (colon-separated). */
  upstreamCaFiles?: string[]
  env?: NodeJS.ProcessEnv
  stdout?: Writable
  stderr?: Writable
  /** Warnings (`kit: warning: ...`) and progress lines. */
  warn?: (line: string) => void
  progress?: (line: string) => void
  signal?: AbortSignal
  /** A driver to use instead of the one named (tests). */
  driverImpl?: VmDriver
  cwd?: string
  /**
   * `kit exec`: a fresh boot of the sandbox's recorded definition running `command`, beside a
   * running one if any; the sandbox's run state is not touched.
   */
  exec?: boolean
  /** `kit run --rm`: delete the sandbox (its state directory) when the run ends, however it ends. */
  remove?: boolean
}

export interface RunSandboxResult {
  name: string
  driver: string
  accel?: string
  /** From the start of the run (kits resolved, image ready, proxy up, VM booted) to the command's first instruction. */
  bootMs: number
  /** From the VM process start to the command's first instruction. */
  vmBootMs: number
  exitCode: number
  durationMs: number
  /** Kits in composition order, with their digests when they came from a store. */
  kits: Array<{name: string; source: string; digest?: string}>
  image: {reference: string; digest: string; unpacked: boolean}
  warnings: string[]
  stdout?: Buffer
  stderr?: Buffer
}

/** Parses `2g`, `1536m`, `1024` (MiB). */
export function parseMemory(text: string | number | undefined): number | undefined {
  if (text === undefined || text === '') return undefined
  if (typeof text === 'number') return Math.round(text)
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)i?b?$/i.exec(text.trim())
  if (!m) throw new SandboxError('USAGE', `memory ${JSON.stringify(text)}: expected a size such as 2g or 1536m`)
  const n = Number(m[1])
  const unit = m[2]!.toLowerCase()
  const mib = unit === 'g' ? n * 1024 : unit === 't' ? n * 1024 * 1024 : unit === 'k' ? n / 1024 : n
  if (mib < 128) throw new SandboxError('USAGE', `memory ${text}: at least 128 MiB`)
  return Math.round(mib)
}

/** Refuses `/` and the home directory (as sbx advises): the sandbox sees all of its workspace. */
export async function checkWorkspace(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const abs = resolve(dir)
  const st = await stat(abs).catch(() => undefined)
  if (!st?.isDirectory()) throw new SandboxError('WORKSPACE', `workspace ${abs} is not a directory`)
  const real = await realpath(abs)
  const homes = new Set([resolve(homedir())])
  if (env.HOME) homes.add(resolve(env.HOME))
  for (const h of [...homes]) homes.add(await realpath(h).catch(() => h))
  if (real === '/' || homes.has(real)) {
    throw new SandboxError('WORKSPACE', `refusing ${real} as the workspace: the sandbox would see all of it; pick a project directory`)
  }
  return real
}

async function allowedSources(env: NodeJS.ProcessEnv): Promise<string[] | undefined> {
  return getSetting<string[]>(ALLOWED_SOURCES.key, env)
}

function listEnv(value: string | undefined, sep: RegExp): string[] {
  return (value ?? '').split(sep).map((s) => s.trim()).filter(Boolean)
}

/** The policy the sandbox's proxy enforces: org floor, tier (flag or local), local rules, kits. */
export async function sandboxPolicy(composition: Composition, tierFlag: string | undefined, env: NodeJS.ProcessEnv): Promise<Policy> {
  if (tierFlag !== undefined && !isTier(tierFlag)) throw new SandboxError('USAGE', `--policy ${tierFlag}: expected balanced, allow-all or deny-all`)
  const [local, org] = await Promise.all([readLocalPolicy(env), readOrgPolicy(env)])
  const layers: RuleLayer[] = [{source: 'local', allow: local.allow, deny: local.deny}]
  for (const k of composition.kits) layers.push(policyFromKit(k.kit.spec).layer)
  const tier: Tier = (tierFlag as Tier | undefined) ?? local.tier
  return new Policy({tier, layers, ...(org ? {org} : {})})
}

function defaultName(agent: string): string {
  return `${agent}-${randomBytes(3).toString('hex')}`.slice(0, 64)
}

function driverFor(name: string | undefined, impl: VmDriver | undefined): VmDriver {
  if (impl) return impl
  if (name === undefined || name === 'qemu') return new QemuDriver()
  if (name === 'docker') return new DockerDriver()
  throw new SandboxError('USAGE', `--driver ${name}: expected qemu or docker`)
}

/** Resolves, composes and records a sandbox without running it (also used by `kit exec`). */
export async function prepareSandbox(opts: RunSandboxOptions): Promise<{def: SandboxDefinition; composition: Composition; store: OciLayoutStore; isNew: boolean}> {
  const env = opts.env ?? process.env
  const store = await OciLayoutStore.open(storeDir(env))
  const sources = await allowedSources(env)
  const ctx = {store, env, cwd: opts.cwd, allowedSources: sources, progress: opts.progress}
  let def: SandboxDefinition
  let isNew = false
  let kitSources: KitSource[]
  let args: Record<string, string>
  if (opts.agent === undefined) {
    if (!opts.name) throw new SandboxError('USAGE', 'name an agent kit, or --name of an existing sandbox to start it again')
    if ((opts.kits ?? []).length > 0) throw new SandboxError('USAGE', `sandbox ${opts.name} keeps its kit set; --kit needs an agent kit (create a new sandbox)`)
    def = await readDefinition(opts.name, env)
    kitSources = []
    for (const k of def.kits) kitSources.push(await relocateKit(k, ctx))
    args = {...def.args, ...(await readKitArgs(opts.kitArgs ?? [], opts.kitArgsFile))}
  } else {
    if (opts.name) {
      checkSandboxName(opts.name)
      if (existsSync(join(sandboxDir(opts.name, env), 'sandbox.json'))) {
        throw new SandboxError('SANDBOX_EXISTS', `sandbox ${opts.name} exists: start it again with \`kit run --name ${opts.name}\` (no kits), or remove it with \`kit rm ${opts.name}\``)
      }
    }
    if (!opts.workspace) throw new SandboxError('USAGE', '--workspace DIR is required for a new sandbox')
    kitSources = []
    for (const input of [opts.agent, ...(opts.kits ?? [])]) kitSources.push(await locateKit(input, ctx))
    args = await readKitArgs(opts.kitArgs ?? [], opts.kitArgsFile)
    def = undefined as unknown as SandboxDefinition
    isNew = true
  }
  await enforceLaunchPolicy(store, kitSources, await loadSignaturePolicy(env)) // kit.requireSignature (runtime/trust)
  const composition = await composeSources(kitSources, args, ctx)
  const workspace = await checkWorkspace(opts.workspace ?? def?.config.workspace ?? '', env)
  const config: SandboxConfig = {
    ...(def?.config ?? {}),
    workspace,
    driver: (opts.driver ?? def?.config.driver ?? 'qemu') as SandboxConfig['driver'],
  }
  if (opts.policy !== undefined) config.policy = opts.policy as SandboxConfig['policy']
  const cpus = opts.cpus ?? composition.sandbox.agent.resources.cpu
  if (cpus !== undefined) config.cpus = cpus
  const mem = parseMemory(opts.memory ?? composition.sandbox.agent.resources.memory)
  if (mem !== undefined) config.memoryMiB = mem
  if (opts.connectTo?.length) config.connectTo = opts.connectTo
  if (opts.upstreamCaFiles?.length) config.upstreamCaFiles = opts.upstreamCaFiles.map((f) => resolve(f))
  const name = opts.name ?? def?.name ?? defaultName(composition.sandbox.agent.name)
  checkSandboxName(name)
  def = {
    version: 1,
    name,
    created: def?.created ?? new Date().toISOString(),
    agent: composition.sandbox.agent.name,
    kits: composition.kits.map((k) => ({
      ...k.source,
      name: k.kit.spec.name,
      kind: k.kit.spec.kind,
      ...(k.kit.spec.version ? {version: k.kit.spec.version} : {}),
    })),
    args,
    image: {reference: composition.sandbox.agent.image, ...(def?.image.reference === composition.sandbox.agent.image && def.image.digest ? {digest: def.image.digest} : {})},
    config,
  }
  return {def, composition, store, isNew}
}

export async function runSandbox(opts: RunSandboxOptions): Promise<RunSandboxResult> {
  try {
    return await runSandboxOnce(opts)
  } catch (e) {
    if (isDiskFull(e)) throw diskFull(e, `starting sandbox ${opts.name ?? opts.agent ?? ''}`.trim(), opts.env)
    throw e
  }
}

async function runSandboxOnce(opts: RunSandboxOptions): Promise<RunSandboxResult> {
  const t0 = Date.now()
  const env = opts.env ?? process.env
  const prepared = await prepareSandbox(opts)
  const {def, isNew} = prepared
  // A sandbox is named to the user only once its command runs: a start that fails leaves no name
  // behind that kit exec or kit ls would then not know (a new sandbox's directory is removed).
  let started = false
  const onRunning = (running: RunningSandbox) => {
    if (!started && isNew && !opts.name && !opts.exec) {
      opts.progress?.(opts.remove ? `sandbox ${def.name} (removed when it ends: --rm)` : `sandbox ${def.name} (start it again with: kit run --name ${def.name})`)
    }
    started = true
    opts.onRunning?.(running)
  }
  let remove = Boolean(opts.remove && !opts.exec)
  try {
    return await runPrepared({...opts, onRunning}, prepared, t0)
  } catch (e) {
    // Never the sandbox of another `kit run` that is running it (--rm or a new name raced).
    if (e instanceof SandboxError && e.code === 'SANDBOX_RUNNING') remove = false
    else if (isNew && !opts.exec && !started) {
      remove = true
      // The setup log goes with the sandbox: its last lines (a failed install step's output) are
      // shown instead, before the error line.
      const log = await readFile(join(sandboxDir(def.name, env), 'setup.log'), 'utf8').catch(() => '')
      const tail = log.trimEnd().split('\n').filter(Boolean).slice(-10)
      if (tail.length > 0) (opts.warn ?? ((l: string) => process.stderr.write(l + '\n')))(`kit: the guest's setup output (last ${tail.length} lines):\n${tail.map((l) => `  | ${l}`).join('\n')}`)
      // A name kit picked is not shown for a sandbox that is not kept (the driver's errors start with it).
      if (!opts.name && e instanceof Error && e.message.startsWith(`${def.name}: `)) e.message = e.message.slice(def.name.length + 2)
    }
    throw e
  } finally {
    if (remove) await rm(sandboxDir(def.name, env), {recursive: true, force: true}).catch(() => {})
  }
}

async function runPrepared(opts: RunSandboxOptions, prepared: Awaited<ReturnType<typeof prepareSandbox>>, t0: number): Promise<RunSandboxResult> {
  const env = opts.env ?? process.env
  const warn = opts.warn ?? ((l: string) => process.stderr.write(l + '\n'))
  const warnings: string[] = []
  const say = (line: string) => {
    warnings.push(line)
    warn(`kit: warning: ${line}`)
  }
  const {def, composition, store} = prepared
  for (const c of composition.conflicts) say(c.message)
  for (const k of composition.kits) for (const w of k.kit.warnings) say(`${w.file}${w.line ? `:${w.line}:${w.column}` : ''}: ${w.message}`)
  const driver = driverFor(def.config.driver, opts.driverImpl)
  const avail = await driver.available(env)
  if (!avail.ok) throw new SandboxError('DRIVER', `driver ${driver.name} cannot run here: ${avail.reason}`)

  const previous = await readState(def.name, env)
  if (!opts.exec && (liveState(previous) === 'running' || liveState(previous) === 'starting')) {
    throw new SandboxError('SANDBOX_RUNNING', `sandbox ${def.name} is already running (pid ${previous.pid}); kit stop ${def.name} first`)
  }
  // The image (pulled or unpacked once, cached by digest) before anything is recorded: a sandbox
  // whose image is missing leaves no directory behind.
  const {image, rootfs} = await ensureImage(store, composition.sandbox.agent.image, {env, allowedSources: await allowedSources(env), progress: opts.progress})
  const dir = await privateSandboxDir(def.name, env)
  def.image = {reference: image.reference, digest: image.manifest.digest}
  if (!opts.exec) {
    // Directory kits are kept with the sandbox: a restart loads what it was created with.
    for (const [i, k] of def.kits.entries()) {
      if (k.source !== 'dir' || k.snapshot) continue
      const snapshot = join(dir, 'kits', `${i}-${k.name}`)
      k.contentDigest = await snapshotKit(composition.kits[i]!.kit, snapshot)
      k.snapshot = snapshot
    }
    await writeDefinition(def, env)
  }
  const layers = await writeKitLayers(composition.kits.map((k) => k.kit), join(dir, opts.exec ? `layers-exec-${process.pid}` : 'layers'))

  const state: SandboxState = {state: 'starting', pid: process.pid, startedAt: new Date().toISOString(), driver: driver.name}
  // State writes go one after another (the VM watcher and the control socket record from
  // callbacks): a late "running" never lands after the final state.
  let writes: Promise<void> = Promise.resolve()
  let final = false
  const record = (s: SandboxState, last = false): Promise<void> => {
    if (opts.exec || final) return Promise.resolve()
    if (last) final = true
    const next = writes.then(() => writeState(def.name, s, env))
    writes = next.catch(() => {})
    return next
  }
  await record(state)

  const abort = new AbortController()
  let stoppedBySignal: NodeJS.Signals | undefined
  const onSignal = (sig: NodeJS.Signals) => {
    stoppedBySignal ??= sig
    abort.abort()
  }
  const onTerm = () => onSignal('SIGTERM')
  const onInt = () => onSignal('SIGINT')
  process.on('SIGTERM', onTerm)
  process.on('SIGINT', onInt)
  const onOuterAbort = () => abort.abort()
  opts.signal?.addEventListener('abort', onOuterAbort, {once: true})

  let proxy: RunningProxy | undefined
  let livePolicy: LivePolicy | undefined
  let setupLog: WriteStream | undefined
  let result: VmResult | undefined
  let vmEnd = 0
  let vmWatch: NodeJS.Timeout | undefined
  let control: ControlServer | undefined
  let ended = false
  // What the running state records beside the command: the VM's pid, the control socket.
  const live: Pick<SandboxState, 'vmPid' | 'control'> = {}
  try {
    const policy = await sandboxPolicy(composition, def.config.policy, env)
    const credentials = composition.kits.flatMap((k) => policyFromKit(k.kit.spec).credentials)
    const needSecrets = credentials.length > 0 || existsSync(join(kitHome(env), 'secrets', 'index.json'))
    const secrets = needSecrets ? await SecretStore.open({env, notice: (l) => warn(l)}) : undefined
    const customSecrets = secrets ? await secrets.customBindings() : []
    const connectTo = [...(def.config.connectTo ?? []), ...listEnv(env.KIT_PROXY_CONNECT_TO, /[\s,]+/)]
    const caFiles = [...(def.config.upstreamCaFiles ?? []), ...listEnv(env.KIT_PROXY_UPSTREAM_CA, /:/)]
    const upstreamCAs = await Promise.all(caFiles.map((f) => readFile(f, 'utf8').catch(() => {
      throw new SandboxError('USAGE', `upstream CA file ${f} cannot be read`)
    })))
    proxy = await startProxy({
      listen: {host: '127.0.0.1', port: 0},
      policy,
      credentials,
      customSecrets,
      ...(secrets ? {secrets} : {}),
      auditLogPath: join(dir, 'egress.log'),
      connectTo,
      upstreamCAs,
      sandboxName: def.name,
      env,
    })
    // `kit policy allow|deny` applies to the running sandbox without a restart.
    livePolicy = await watchLocalPolicy({proxy, build: () => sandboxPolicy(composition, def.config.policy, env), env, log: (l) => warn(l)})
    const plan = buildPlan({
      sandbox: composition.sandbox,
      command: opts.hold && !opts.command ? HOLD_COMMAND : opts.command,
      interactive: opts.interactive,
      imageEnv: image.config.env,
      placeholders: proxy.guestEnv,
      hostname: def.name,
    })
    const spec: VmSpec = {
      name: def.name,
      rootfs: rootfs.dir,
      rootfsId: image.manifest.digest,
      kitLayers: layers.map((l) => l.dir),
      workspace: def.config.workspace,
      proxy: {host: proxy.address, port: proxy.port},
      env: plan.env,
      plan: plan.plan,
      command: plan.command,
      caCertPem: proxy.caCertPem,
      ...(def.config.cpus !== undefined ? {cpus: def.config.cpus} : {}),
      ...(def.config.memoryMiB !== undefined ? {memoryMiB: def.config.memoryMiB} : {}),
    }
    setupLog = createWriteStream(join(dir, opts.exec ? 'setup-exec.log' : 'setup.log'), {flags: 'w', mode: 0o600})
    const recordRunning = () => record({...state, state: 'running', command: plan.command, ...live})
    await recordRunning()
    if (abort.signal.aborted) throw new SandboxError('SANDBOX_STATE', `sandbox ${def.name} was stopped before it started`)
    // Record the VM's pid once it runs, so that `kit stop`/`kit rm` can clean up a VM whose
    // `kit run` process was killed outright.
    if (!opts.exec) {
      vmWatch = setInterval(() => {
        const vm = processTree(process.pid).find((p) => p !== process.pid && commOf(p).startsWith('qemu-system'))
        if (vm === undefined) return
        clearInterval(vmWatch)
        live.vmPid = vm
        void recordRunning().catch(() => {})
      }, 500)
    }
    result = await driver.run(spec, {
      ...(opts.stdout ? {stdout: opts.stdout} : {}),
      ...(opts.stderr ? {stderr: opts.stderr} : {}),
      setupLog,
      signal: abort.signal,
      env,
      ...(opts.terminal ? {terminal: opts.terminal} : {}),
      warn: say,
      ...(opts.progress ? {progress: opts.progress} : {}),
      onRunning: (running) => {
        opts.onRunning?.(running)
        if (opts.exec) return
        // `kit exec NAME` from another process reaches this sandbox through its control socket.
        void serveControl(controlSocketPath(dir), running).then(async (c) => {
          if (ended) return c.close()
          control = c
          live.control = c.path
          await recordRunning()
        }).catch((e: Error) => warn(`kit: warning: no control socket for kit exec: ${e.message}`))
      },
    })
    vmEnd = Date.now()
    await record({...state, state: 'exited', command: plan.command, endedAt: new Date().toISOString(), exitCode: result.exitCode, bootMs: result.bootMs, driver: result.driver, accel: result.accel}, true)
  } catch (e) {
    const stopped = stoppedBySignal !== undefined
    await record({...state, state: stopped ? 'stopped' : 'failed', endedAt: new Date().toISOString(), error: (e as Error).message.split('\n')[0]}, true).catch(() => {})
    if (stopped) {
      const err = new SandboxError('SANDBOX_STATE', `sandbox ${def.name} was stopped (${stoppedBySignal})`)
      err.exitCode = stoppedBySignal === 'SIGINT' ? 130 : 143
      throw err
    }
    throw e
  } finally {
    ended = true
    clearInterval(vmWatch)
    await control?.close().catch(() => {})
    process.off('SIGTERM', onTerm)
    process.off('SIGINT', onInt)
    opts.signal?.removeEventListener('abort', onOuterAbort)
    livePolicy?.close()
    await proxy?.stop().catch(() => {})
    if (setupLog) await new Promise<void>((r) => setupLog!.end(() => r()))
    if (opts.exec) await rm(join(dir, `layers-exec-${process.pid}`), {recursive: true, force: true}).catch(() => {})
  }
  // The VM started durationMs before it ended; the command started bootMs after that.
  const firstInstruction = vmEnd - result.durationMs + result.bootMs
  return {
    name: def.name,
    driver: result.driver,
    accel: result.accel,
    bootMs: Math.max(result.bootMs, firstInstruction - t0),
    vmBootMs: result.bootMs,
    exitCode: result.exitCode,
    durationMs: result.durationMs,
    kits: def.kits.map((k) => ({name: k.name, source: k.source, ...(k.digest ? {digest: k.digest} : {})})),
    image: {reference: image.reference, digest: image.manifest.digest, unpacked: rootfs.unpacked},
    warnings,
    ...(opts.stdout ? {} : {stdout: result.stdout}),
    ...(opts.stderr ? {} : {stderr: result.stderr}),
  }
}
