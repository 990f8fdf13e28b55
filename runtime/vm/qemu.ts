// The qemu driver: a real VM with its own kernel. KVM with `-M microvm` when /dev/kvm is usable,
// TCG on `-M pc` otherwise. The root filesystem is a read-only ext4 image on virtio-blk (or a 9p
// share) under an overlay with a tmpfs upper; kit layers and the workspace are 9p shares; the
// network is QEMU's user net with restrict=on and one guestfwd to the host-side proxy. The command's
// stdout, stderr, the setup log and a status channel are virtio-serial ports connected to unix
// sockets this process listens on.
import {spawn, spawnSync, ChildProcess} from 'node:child_process'
import {constants, existsSync, openSync, closeSync} from 'node:fs'
import {mkdir, mkdtemp, readFile, rename, rm, stat, writeFile} from 'node:fs/promises'
import {createServer, Server, Socket} from 'node:net'
import {homedir, tmpdir} from 'node:os'
import {delimiter, join, resolve} from 'node:path'
import type {Writable} from 'node:stream'
import {cacheDir} from '../home.js'
import {VmError} from './errors.js'
import type {RunOptions, VmDriver, VmResult, VmSpec} from './driver.js'
import {GuestExecChannel} from './exec-channel.js'
import {GuestStatus} from './status.js'
import {guestEnvironments, guestHostname} from './guest-env.js'
import {ensureInitramfs, planArchive} from './initramfs.js'
import {ensureKernel} from './kernel.js'
import {compilePlan} from './plan.js'
import {rootfsImage} from './rootfs.js'
import {hostFilter} from './seccomp.js'

/** The guest sees the proxy here (QEMU guestfwd). */
export const GUEST_PROXY_ADDR = '10.0.2.100'
export const GUEST_PROXY_PORT = 3128
export const GUEST_ADDRESS = '10.0.2.15/24'
export const QBOOT = '/usr/share/qemu/qboot.rom'

export type Accel = 'kvm' | 'tcg'
export type Machine = 'pc' | 'microvm'
export type RootTransport = 'blk' | '9p'

const PORTS = ['status', 'stdout', 'stderr', 'log', 'exec'] as const
type PortName = (typeof PORTS)[number]

function which(cmd: string, env: NodeJS.ProcessEnv): string | undefined {
  if (cmd.includes('/')) return existsSync(cmd) ? cmd : undefined
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd)
  }
  return undefined
}

export function qemuBinary(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return which(env.KIT_QEMU || 'qemu-system-x86_64', env)
}

/** KVM when /dev/kvm opens read-write (KIT_VM_ACCEL=tcg|kvm forces one). */
export function pickAccel(env: NodeJS.ProcessEnv = process.env): Accel {
  if (env.KIT_VM_ACCEL === 'tcg' || env.KIT_VM_ACCEL === 'kvm') return env.KIT_VM_ACCEL
  try {
    closeSync(openSync('/dev/kvm', constants.O_RDWR))
    return 'kvm'
  } catch {
    return 'tcg'
  }
}

let userNsProbe: {tool: string; ok: boolean} | undefined

/** `unshare` when it can map the current user to uid 1000 here (user namespaces may be disabled). */
function userNamespaceTool(env: NodeJS.ProcessEnv): string | undefined {
  const tool = which('unshare', env)
  if (!tool) return undefined
  if (userNsProbe?.tool !== tool) {
    const r = spawnSync(tool, ['--user', '--map-user=1000', '--map-group=1000', '--', 'true'], {stdio: 'ignore', timeout: 5000})
    userNsProbe = {tool, ok: r.status === 0}
  }
  return userNsProbe.ok ? tool : undefined
}

/** QEMU option values escape commas by doubling them. */
function opt(s: string): string {
  return s.replace(/,/g, ',,')
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

/** Concurrent guest connections to the proxy (one host connector process each); more are refused. */
export const MAX_GUEST_CONNECTIONS = 128
/** A connection with no traffic either way for this long is closed (socat -T). */
export const CONNECTOR_IDLE_SECONDS = 300

// The slot gate: take a free slot (a non-blocking flock on one of N files, held across exec by
// the connector, released by the kernel when it exits) or exit at once. Perl is Debian-essential.
const SLOT_GATE = 'use Fcntl qw(:flock); $^F = 255; my ($d, $n) = splice(@ARGV, 0, 2); ' +
  'for my $i (0 .. $n - 1) { open(my $f, ">", "$d/$i") or next; if (flock($f, LOCK_EX | LOCK_NB)) { exec { $ARGV[0] } @ARGV; exit 126 } close $f } exit 75'

export interface ConnectorSlots {
  /** A directory only this run uses (its slot lock files). */
  dir: string
  /** How many connectors may run at once. */
  count: number
  /** Absolute paths of the tools (default: found in PATH by the shell). */
  perl?: string
  socat?: string
}

/**
 * The guestfwd connector: QEMU starts it per guest connection; stdin/stdout are the connection.
 * With `slots`, at most `slots.count` run at once: a connection beyond that is closed at once.
 */
export function connectorCommand(host: string, port: number, slots?: ConnectorSlots): string {
  const target = host.includes(':') ? `TCP6:[${host}]:${port}` : `TCP4:${host}:${port}`
  const socat = ['socat', '-T', String(CONNECTOR_IDLE_SECONDS), '-', target]
  if (!slots) return socat.map((a, i) => (i === 0 ? a : shellQuote(a))).join(' ')
  socat[0] = slots.socat ?? 'socat'
  return [slots.perl ?? 'perl', '-e', SLOT_GATE, slots.dir, String(slots.count), ...socat].map(shellQuote).join(' ')
}

/**
 * `argv` under bubblewrap with the seccomp filter of runtime/vm/seccomp.ts, which the caller passes
 * as file descriptor 3. Same filesystem (`--dev-bind / /`), no other namespace change.
 */
export function confinedArgv(bwrap: string, argv: string[]): string[] {
  return [bwrap, '--dev-bind', '/', '/', '--die-with-parent', '--seccomp', '3', '--', ...argv]
}

/** KIT_VM_MAX_CONNECTIONS (a positive integer) or the default. */
export function maxGuestConnections(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.KIT_VM_MAX_CONNECTIONS)
  return Number.isInteger(n) && n > 0 ? n : MAX_GUEST_CONNECTIONS
}

function refuseWorkspace(ws: string): void {
  const abs = resolve(ws)
  if (abs === '/' || abs === resolve(homedir())) {
    throw new VmError('VM_SPEC', `refusing to share ${abs} as the workspace: pick a project directory`)
  }
}

/** microvm needs KVM (under TCG it hangs calibrating the TSC); KIT_VM_MACHINE=pc|microvm forces one. */
export function pickMachine(accel: Accel, env: NodeJS.ProcessEnv = process.env): Machine {
  if (env.KIT_VM_MACHINE === 'pc' || env.KIT_VM_MACHINE === 'microvm') return env.KIT_VM_MACHINE
  return accel === 'kvm' ? 'microvm' : 'pc'
}

export interface QemuArgsInput {
  accel: Accel
  machine: Machine
  kernel: string
  initrd: string
  cmdline: string
  cpus: number
  memoryMiB: number
  root: {transport: RootTransport; path: string}
  kitLayers: string[]
  workspace: string
  proxyCommand?: string
  sockets: Record<PortName, string>
  /** Host directory shared as the exec share (`kit exec` requests and output). */
  execShare?: string
  /** Unix socket of the terminal (a virtio console, the guest's /dev/hvc0) of an interactive run. */
  ttySocket?: string
  consoleLog: string
  /** The whole -machine value (KIT_VM_MACHINE_OPTS, for experiments). */
  machineOptions?: string
  /** TCG translation cache size (MiB). */
  tbSizeMiB?: number
  /** Firmware: QEMU's default (SeaBIOS on pc), or qboot with KIT_VM_BIOS=qboot (lighter; no MP table IRQs). */
  bios?: string
}

/** The QEMU command line (pure: tests and `--debug` print it). */
export function qemuArgs(i: QemuArgsInput): string[] {
  const micro = i.machine === 'microvm'
  // microvm has no PCI: virtio devices sit on virtio-mmio (described to the kernel by ACPI).
  const dev = (kind: string) => (micro ? `${kind}-device` : `${kind}-pci`)
  const a: string[] = [
    '-nodefaults', '-no-user-config', '-nographic', '-no-reboot',
    '-machine', i.machineOptions ?? (micro ? 'microvm,pit=off,pic=off,isa-serial=on,rtc=on' : 'pc'),
    // TCG's translation cache defaults to 1 GiB of address space; a smaller one bounds QEMU's RSS.
    '-accel', i.accel === 'tcg' ? `tcg,tb-size=${i.tbSizeMiB ?? 256}` : 'kvm',
    '-cpu', i.accel === 'kvm' ? 'host' : 'max',
    '-smp', String(i.cpus),
    '-m', `${i.memoryMiB}M`,
    ...(i.bios ? ['-bios', i.bios] : []),
    '-kernel', i.kernel,
    '-initrd', i.initrd,
    '-append', i.cmdline,
    '-chardev', `file,id=con,path=${opt(i.consoleLog)}`,
    '-serial', 'chardev:con',
    '-device', `${dev('virtio-serial')},id=vser`,
  ]
  for (const p of PORTS) {
    a.push('-chardev', `socket,id=p_${p},path=${opt(i.sockets[p])}`)
    a.push('-device', `virtserialport,bus=vser.0,chardev=p_${p},name=kit.${p}`)
  }
  if (i.ttySocket) {
    a.push('-chardev', `socket,id=p_tty,path=${opt(i.ttySocket)}`)
    a.push('-device', 'virtconsole,bus=vser.0,chardev=p_tty,name=kit.tty')
  }
  if (i.root.transport === 'blk') {
    a.push('-drive', `file=${opt(i.root.path)},if=none,id=root,format=raw,readonly=on`)
    a.push('-device', `${dev('virtio-blk')},drive=root`)
  } else {
    a.push('-fsdev', `local,id=rootfs,path=${opt(i.root.path)},security_model=none,readonly=on`)
    a.push('-device', `${dev('virtio-9p')},fsdev=rootfs,mount_tag=rootfs`)
  }
  i.kitLayers.forEach((l, n) => {
    a.push('-fsdev', `local,id=kit${n},path=${opt(l)},security_model=none,readonly=on`)
    a.push('-device', `${dev('virtio-9p')},fsdev=kit${n},mount_tag=kit${n}`)
  })
  if (i.execShare) {
    a.push('-fsdev', `local,id=exec,path=${opt(i.execShare)},security_model=none`)
    a.push('-device', `${dev('virtio-9p')},fsdev=exec,mount_tag=kitexec`)
  }
  a.push('-fsdev', `local,id=ws,path=${opt(i.workspace)},security_model=none`)
  a.push('-device', `${dev('virtio-9p')},fsdev=ws,mount_tag=workspace`)
  if (i.proxyCommand) {
    a.push('-netdev', `user,id=n0,restrict=on,ipv6=off,guestfwd=tcp:${GUEST_PROXY_ADDR}:${GUEST_PROXY_PORT}-cmd:${opt(i.proxyCommand)}`)
    a.push('-device', `${dev('virtio-net')},netdev=n0`)
  }
  return a
}

/** Kernel command line: quiet, no probing the guest does not need. */
export function kernelCmdline(accel: Accel, extra: string[], machine: Machine = accel === 'kvm' ? 'microvm' : 'pc'): string {
  const base = [
    'console=ttyS0', 'quiet', 'loglevel=1', 'panic=-1', 'rdinit=/init',
    'tsc=reliable', 'no_timer_check', 'noreplace-smp', 'cryptomgr.notests', 'random.trust_cpu=on',
    'i8042.noaux', 'i8042.nomux', 'i8042.nopnp', 'i8042.dumbkbd', '8250.nr_uarts=1',
    'pci=lastbus=0', 'nowatchdog', 'audit=0', 'selinux=0', 'apparmor=0',
  ]
  // ACPI only for CPUs (acpi=off would also drop the second vCPU): enabling PCI interrupt links
  // through ACPI costs ~1 s under TCG. The guest leaves with `reboot -f` (QEMU exits, -no-reboot).
  if (machine === 'pc' && accel === 'tcg') base.push('acpi=noirq')
  // microvm under TCG: no calibration of the delay loop against a timer the machine lacks.
  if (machine === 'microvm' && accel === 'tcg') base.push('lpj=4000000')
  if (accel === 'kvm') base.push('reboot=t')
  return [...base, ...extra].join(' ')
}

interface Channel {
  server: Server
  socket?: Socket
  ended: Promise<void>
}

function listen(path: string, onData: (b: Buffer) => void): Promise<Channel> {
  return new Promise((resolveListen, reject) => {
    let endResolve!: () => void
    const ended = new Promise<void>(r => (endResolve = r))
    const ch: Channel = {server: createServer(), ended}
    ch.server.on('connection', sock => {
      if (ch.socket) {
        sock.destroy()
        return
      }
      ch.socket = sock
      sock.on('data', onData)
      sock.on('error', () => endResolve())
      sock.on('close', () => endResolve())
    })
    ch.server.on('error', reject)
    ch.server.listen(path, () => resolveListen(ch))
  })
}

function terminalSize(n: number | undefined, fallback = 24): number {
  return Number.isInteger(n) && n! > 0 && n! < 10000 ? n! : fallback
}

function tailOf(text: string, lines = 12): string {
  return text.split('\n').filter(l => l.trim()).slice(-lines).join('\n')
}

/** How long a first KVM run may take to reach the guest init before KVM is judged unusable. */
export const KVM_PROBE_MS = 20_000

class KvmStalled extends VmError {
  constructor() {
    super('VM_BOOT', 'KVM did not reach the guest init in time')
  }
}

export interface QemuDriverOptions {
  /** How the guest gets the root filesystem (default blk: an ext4 image, much faster under TCG). */
  rootTransport?: RootTransport
  /** Where root filesystem images are cached (default $KIT_HOME/cache/rootfs-images). */
  imageCacheDir?: string
}

export class QemuDriver implements VmDriver {
  readonly name = 'qemu'
  constructor(private readonly options: QemuDriverOptions = {}) {}

  async available(env: NodeJS.ProcessEnv = process.env): Promise<{ok: boolean; reason?: string}> {
    if (!qemuBinary(env)) return {ok: false, reason: 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)'}
    return {ok: true}
  }

  async run(spec: VmSpec, options: RunOptions = {}): Promise<VmResult> {
    const env = options.env ?? process.env
    const forced = env.KIT_VM_ACCEL === 'tcg' || env.KIT_VM_ACCEL === 'kvm'
    const accel = pickAccel(env)
    if (forced || accel === 'tcg') return this.runWith(spec, options, accel)
    // /dev/kvm opens, but nested KVM can be slower than TCG by orders of magnitude. The first run
    // of a KIT_HOME probes it: no guest init within KVM_PROBE_MS means TCG from then on.
    const verdictFile = join(cacheDir(env), 'kvm-verdict')
    const verdict = (await readFile(verdictFile, 'utf8').catch(() => '')).trim()
    if (verdict === 'tcg') return this.runWith(spec, options, 'tcg')
    if (verdict === 'kvm') return this.runWith(spec, options, 'kvm')
    const saveVerdict = async (v: Accel) => {
      await mkdir(cacheDir(env), {recursive: true})
      const tmp = `${verdictFile}.${process.pid}.tmp`
      await writeFile(tmp, v + '\n')
      await rename(tmp, verdictFile)
    }
    try {
      const r = await this.runWith(spec, options, 'kvm', KVM_PROBE_MS)
      await saveVerdict('kvm')
      return r
    } catch (error) {
      if (!(error instanceof KvmStalled)) throw error
      await saveVerdict('tcg')
      return this.runWith(spec, options, 'tcg')
    }
  }

  private async runWith(spec: VmSpec, options: RunOptions, accel: Accel, probeMs?: number): Promise<VmResult> {
    const env = options.env ?? process.env
    const tPrep = Date.now()
    const qemu = qemuBinary(env)
    if (!qemu) throw new VmError('QEMU_MISSING', 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)')
    refuseWorkspace(spec.workspace)
    const wsStat = await stat(spec.workspace).catch(() => undefined)
    if (!wsStat?.isDirectory()) throw new VmError('VM_SPEC', `workspace ${spec.workspace} is not a directory`)
    for (const l of spec.kitLayers) {
      if (!(await stat(l).catch(() => undefined))?.isDirectory()) throw new VmError('VM_SPEC', `kit layer ${l} is not a directory`)
    }
    const socat = spec.proxy ? which('socat', env) : undefined
    if (spec.proxy && !socat) throw new VmError('VM_SPEC', 'socat is not installed (apt-get install socat): it connects the guest to the proxy')
    const perl = spec.proxy ? which('perl', env) : undefined
    if (spec.proxy && !perl) throw new VmError('VM_SPEC', 'perl is not installed (apt-get install perl-base): it caps the guest\'s connections to the proxy')
    const bwrap = which('bwrap', env)
    if (!bwrap) throw new VmError('VM_SPEC', 'bubblewrap is not installed (apt-get install bubblewrap): it confines what QEMU may write to the host')
    const filter = hostFilter()
    if (!filter) throw new VmError('VM_SPEC', `no seccomp filter for ${process.arch} hosts: QEMU cannot be confined here`)
    const workdir = spec.workdir ?? '/workspace'
    if (!/^\/[A-Za-z0-9._/-]*$/.test(workdir) || workdir.split('/').includes('..') || workdir === '/') {
      throw new VmError('VM_SPEC', `workdir ${JSON.stringify(workdir)} must be an absolute path of plain characters`)
    }
    const transport = this.options.rootTransport ?? ((env.KIT_VM_ROOT as RootTransport | undefined) === '9p' ? '9p' : 'blk')

    const kernel = await ensureKernel(env, options.progress)
    const initramfs = await ensureInitramfs(kernel, env)
    const rootPath = transport === 'blk' ? await rootfsImage(spec.rootfs, {id: spec.rootfsId, cacheRoot: this.options.imageCacheDir, env, progress: options.progress}) : resolve(spec.rootfs)

    const terminal = options.terminal
    const {agentEnv, rootEnv} = guestEnvironments(spec, `http://${GUEST_PROXY_ADDR}:${GUEST_PROXY_PORT}`, terminal ? env.TERM ?? '' : undefined)
    let compiled
    try {
      compiled = compilePlan(spec.plan, {
        hostname: guestHostname(spec.name),
        workdir,
        layers: spec.kitLayers.length,
        address: spec.proxy ? GUEST_ADDRESS : undefined,
        caCertPem: spec.caCertPem,
        agentEnv,
        rootEnv,
        command: spec.command,
      })
    } catch (error) {
      throw new VmError('VM_SPEC', (error as Error).message)
    }

    const runDir = await mkdtemp(join(tmpdir(), 'kit-vm-'))
    const consoleLog = join(runDir, 'console.log')
    const sockets = Object.fromEntries(PORTS.map(p => [p, join(runDir, `${p}.sock`)])) as Record<PortName, string>
    const initrd = join(runDir, 'initrd.cpio.gz')
    const execShare = join(runDir, 'exec')
    const slotDir = join(runDir, 'slots')
    const filterFile = join(runDir, 'seccomp.bpf')
    const ttySocket = terminal ? join(runDir, 'tty.sock') : undefined
    const channels: Channel[] = []
    let execChannel: GuestExecChannel | undefined
    let child: ChildProcess | undefined
    let exitHook: (() => void) | undefined
    const timers: NodeJS.Timeout[] = []
    const cleanups: Array<() => void> = []
    const killVm = () => {
      if (child?.pid && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL') // QEMU and its guestfwd connectors
        } catch {
          try { child.kill('SIGKILL') } catch {}
        }
      }
    }
    try {
      const base = await readFile(initramfs.path)
      await writeFile(initrd, Buffer.concat([base, planArchive(compiled.files)]), {mode: 0o600})

      const stdoutChunks: Buffer[] = []
      const stderrChunks: Buffer[] = []
      const sink = (w: Writable | undefined, chunks: Buffer[]) => (b: Buffer) => (w ? w.write(b) : chunks.push(b))
      const status = new GuestStatus()
      let onStarted: (() => void) | undefined
      status.onStart = () => {
        onStarted?.()
        if (execChannel) options.onRunning?.(execChannel)
      }
      channels.push(await listen(sockets.status, b => status.write(b)))
      channels.push(await listen(sockets.stdout, sink(options.stdout, stdoutChunks)))
      channels.push(await listen(sockets.stderr, sink(options.stderr, stderrChunks)))
      channels.push(await listen(sockets.log, b => options.setupLog?.write(b)))
      await mkdir(execShare, {mode: 0o700})
      await mkdir(slotDir, {mode: 0o700})
      await writeFile(filterFile, filter, {mode: 0o600})
      const execPort = await listen(sockets.exec, b => execChannel?.onData(b))
      channels.push(execPort)
      const exec = new GuestExecChannel(execShare, line => {
        if (!execPort.socket || execPort.socket.destroyed) return false
        execPort.socket.write(line)
        return true
      })
      execChannel = exec
      if (terminal && ttySocket) {
        const pending: Buffer[] = []
        let tty: Socket | undefined
        const ttyChannel = await listen(ttySocket, b => terminal.output.write(b))
        channels.push(ttyChannel)
        ttyChannel.server.on('connection', () => {
          tty = ttyChannel.socket
          for (const b of pending.splice(0)) tty?.write(b)
        })
        const onInput = (b: Buffer) => (tty && !tty.destroyed ? tty.write(b) : pending.push(Buffer.from(b)))
        terminal.input.on('data', onInput)
        cleanups.push(() => terminal.input.off('data', onInput))
      }

      const args = qemuArgs({
        accel,
        machine: pickMachine(accel, env),
        tbSizeMiB: Number(env.KIT_VM_TB_SIZE) || undefined,
        machineOptions: env.KIT_VM_MACHINE_OPTS || undefined,
        bios: pickMachine(accel, env) === 'pc' && env.KIT_VM_BIOS === 'qboot' && existsSync(QBOOT) ? QBOOT : undefined,
        kernel: kernel.kernel,
        initrd,
        cmdline: kernelCmdline(accel, [`kit.root=${transport}`, `kit.layers=${spec.kitLayers.length}`, `kit.workdir=${workdir}`, 'kit.exec=1',
          ...(terminal ? [`kit.tty=${terminalSize(terminal.rows)}x${terminalSize(terminal.cols, 80)}`] : []),
          `kit.net=${spec.proxy ? 1 : 0}`, `kit.mmio=${pickMachine(accel, env) === 'microvm' ? 1 : 0}`, ...(env.KIT_VM_KERNEL_ARGS ? env.KIT_VM_KERNEL_ARGS.split(/\s+/).filter(Boolean) : [])], pickMachine(accel, env)),
        cpus: spec.cpus ?? 2,
        memoryMiB: spec.memoryMiB ?? 1024,
        root: {transport, path: rootPath},
        kitLayers: spec.kitLayers.map(l => resolve(l)),
        workspace: resolve(spec.workspace),
        proxyCommand: spec.proxy ? connectorCommand(spec.proxy.host, spec.proxy.port, {dir: slotDir, count: maxGuestConnections(env), perl, socat}) : undefined,
        sockets,
        execShare,
        ttySocket,
        consoleLog,
      })
      await writeFile(join(runDir, 'qemu.argv.json'), JSON.stringify([qemu, ...args], null, 1))

      status.t0 = Date.now()
      let qemuStderr = ''
      // setpriv --pdeathsig: QEMU dies with this process however it ends (SIGKILL included).
      // unshare --map-user: QEMU runs in a user namespace where the host user (the workspace's
      // owner) is uid 1000, so the agent owns the workspace in the guest whoever owns it on the
      // host, and what the agent creates belongs to the host user (9p security_model=none).
      const setpriv = which('setpriv', env)
      const unshare = transport === 'blk' && env.KIT_VM_USERNS !== '0' ? userNamespaceTool(env) : undefined
      let argv = [qemu, ...args]
      if (unshare) argv = [unshare, '--user', '--map-user=1000', '--map-group=1000', '--', ...argv]
      // bwrap --seccomp: QEMU and what it starts may not make host files setuid/setgid, device
      // nodes or give them extended attributes (runtime/vm/seccomp.ts). The filter is fd 3.
      argv = confinedArgv(bwrap, argv)
      if (setpriv) argv = [setpriv, '--pdeathsig', 'SIGKILL', '--', ...argv]
      const file = argv.shift() as string
      const filterFd = openSync(filterFile, 'r')
      let proc: ChildProcess
      try {
        proc = spawn(file, argv, {detached: true, stdio: ['ignore', 'ignore', 'pipe', filterFd], env: {...env, PATH: env.PATH ?? ''}})
      } finally {
        closeSync(filterFd)
      }
      child = proc
      exitHook = () => killVm()
      process.on('exit', exitHook)
      proc.stderr?.on('data', d => (qemuStderr = (qemuStderr + d).slice(-8192)))
      const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>(r => {
        proc.on('exit', (code, signal) => r({code, signal}))
        proc.on('error', () => r({code: -1, signal: null}))
      })

      let stopReason: VmError | undefined
      const stop = (e: VmError) => {
        stopReason ??= e
        killVm()
      }
      const bootTimeout = options.bootTimeoutMs ?? (accel === 'kvm' ? 60_000 : 180_000)
      timers.push(setTimeout(() => stop(new VmError('VM_BOOT', `the VM did not start the command within ${bootTimeout} ms`)), bootTimeout))
      onStarted = () => clearTimeout(timers[0])
      if (probeMs) {
        const probe = setTimeout(() => stop(new KvmStalled()), probeMs)
        timers.push(probe)
        status.onBoot = () => clearTimeout(probe)
      }
      if (options.timeoutMs) timers.push(setTimeout(() => stop(new VmError('VM_TIMEOUT', `the VM ran longer than ${options.timeoutMs} ms and was killed`)), options.timeoutMs))
      const onAbort = () => stop(new VmError('VM_TIMEOUT', 'the run was cancelled'))
      options.signal?.addEventListener('abort', onAbort, {once: true})
      if (status.started) onStarted()

      const {code, signal} = await exited
      options.signal?.removeEventListener('abort', onAbort)
      // QEMU closes its chardevs on exit; wait for the last bytes (bounded).
      await Promise.race([Promise.all(channels.map(c => (c.socket ? c.ended : undefined))), new Promise(r => setTimeout(r, 2000))])
      const durationMs = Date.now() - status.t0

      const console = await readFile(consoleLog, 'utf8').catch(() => '')
      const logRef = options.keepRunDir ? ` (console: ${consoleLog})` : ''
      if (stopReason instanceof KvmStalled) throw stopReason
      if (stopReason) throw new VmError(stopReason.code, `${spec.name}: ${stopReason.message}${logRef}${console ? `\n${tailOf(console, 6)}` : ''}`, {logFile: options.keepRunDir ? consoleLog : undefined})
      const exitCode = status.exitCode
      if (status.failure) throw new VmError('VM_GUEST', `${spec.name}: ${status.failure}${logRef}`, {logFile: options.keepRunDir ? consoleLog : undefined})
      if (exitCode === undefined) {
        const why = code !== 0 || signal ? `QEMU exited ${signal ?? code}${qemuStderr ? `: ${tailOf(qemuStderr, 3)}` : ''}` : 'the guest powered off without reporting an exit code'
        const booted = status.booted
        throw new VmError(booted ? 'VM_CRASH' : 'VM_BOOT', `${spec.name}: ${booted ? 'the VM stopped before the command finished' : 'the VM failed to boot'}: ${why}${logRef}${console ? `\n${tailOf(console, 8)}` : ''}`, {logFile: options.keepRunDir ? consoleLog : undefined})
      }
      return {
        exitCode,
        bootMs: status.bootMs,
        prepMs: status.t0 - tPrep,
        guestUptimeAtStart: status.guestUptimeAtStart,
        durationMs,
        stdout: Buffer.concat(stdoutChunks),
        stderr: Buffer.concat(stderrChunks),
        driver: this.name,
        accel,
        consoleLog: options.keepRunDir ? consoleLog : undefined,
      }
    } finally {
      for (const t of timers) clearTimeout(t)
      killVm()
      execChannel?.close(new VmError('VM_STATE', `sandbox ${spec.name} stopped`))
      for (const c of cleanups) c()
      if (exitHook) process.off('exit', exitHook)
      for (const c of channels) {
        c.socket?.destroy()
        c.server.close()
      }
      if (!options.keepRunDir) await rm(runDir, {recursive: true, force: true})
    }
  }
}
