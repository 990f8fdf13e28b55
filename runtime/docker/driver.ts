// The docker driver: the sandbox is a container that SHARES THE HOST KERNEL (no VM boundary), for
// hosts without a hypervisor. The same guest plan as the qemu driver, run by the same stage-2
// script (runtime/guest/stage2.sh) started by runtime/guest/docker-init.sh as the container's
// PID 1. The root filesystem is the agent image imported into the engine once (image.ts); kit
// layers are read-only bind mounts, the workspace a read-write one.
//
// Network: a per-run `--internal` bridge network with no route out; the driver listens on the
// bridge's gateway address and forwards to the sandbox's policy proxy (forwarder.ts); host
// firewall rules on the bridge accept only that port (firewall.ts); the container's resolver
// points at the gateway, whose port 53 is rejected, so no name resolves inside; IPv6 is off.
// No docker socket, no privileges: capabilities dropped to what root-run install steps need,
// no-new-privileges. Everything is labelled and removed on every path (cleanup.ts for a killed run).
// `kit exec` (RunningSandbox.exec) and a terminal run are docker execs as uid 1000 in the workspace
// with the agent's environment; a terminal run's plan command only holds the container open.
import {spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {closeSync, constants, openSync, readFileSync} from 'node:fs'
import {mkdir, mkdtemp, rm, stat, writeFile} from 'node:fs/promises'
import {Socket} from 'node:net'
import {homedir, tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import type {Writable} from 'node:stream'
import type Docker from 'dockerode'
import {VmError} from '../vm/errors.js'
import type {ExecIo, RunningSandbox, RunOptions, VmDriver, VmResult, VmSpec} from '../vm/driver.js'
import {busyboxPath, guestAssetsDir} from '../vm/initramfs.js'
import {compilePlan} from '../vm/plan.js'
import {GuestStatus} from '../vm/status.js'
import {DEFAULT_PATH, guestEnvironments, guestHostname} from '../vm/guest-env.js'
import {cleanupDockerSandbox} from './cleanup.js'
import {connectEngine, engineMessage, engineSocket, homeLabel, LABEL_HOME, LABEL_PID, LABEL_SANDBOX} from './engine.js'
import {sandboxSeccompProfile} from './seccomp.js'
import {DockerError} from './errors.js'
import {bridgeRules, deleteRules, firewallUsable, insertRules, ruleComment, type Rule} from './firewall.js'
import {startForwarder, type Forwarder} from './forwarder.js'
import {ensureRootfsImage} from './image.js'

/** The port of the proxy forwarder on the gateway address. */
export const GUEST_PROXY_PORT = 3128
export const KERNEL_WARNING = 'the docker driver runs the sandbox in a container that shares the host kernel (no VM boundary): prefer --driver qemu where it can run'

/**
 * Capabilities root keeps in the container (install steps: apt, chown, users): Docker's default
 * set without NET_RAW (no raw sockets towards the bridge) and MKNOD. No NET_ADMIN, no SYS_ADMIN.
 */
// No SETFCAP: a file capability set in the workspace would hold on the host (runtime/docker/seccomp.ts).
export const CAPABILITIES = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'AUDIT_WRITE']

/** Where the host's files appear in the container (see runtime/guest/docker-init.sh). */
const HOST_DIR = '/.kit-host'
const FIFOS = ['status', 'log', 'stdout', 'stderr'] as const
type FifoName = (typeof FIFOS)[number]

function isStaticBusybox(path: string): string | undefined {
  let data: Buffer
  try {
    data = readFileSync(path)
  } catch {
    return `busybox not found at ${path} (apt-get install busybox-static, or set KIT_BUSYBOX)`
  }
  // A dynamically linked ELF names its interpreter; the container's image may have no libc for it.
  if (data.subarray(0, 4).toString('latin1') !== '\x7fELF' || data.indexOf('/lib64/ld-linux') >= 0 || data.indexOf('ld-musl') >= 0) {
    return `${path} is not a statically linked busybox (apt-get install busybox-static, or set KIT_BUSYBOX)`
  }
  return undefined
}

/** Whether uid 1000 can write `dir` (owner, group or others bits; ACLs are not read). */
async function writableByAgent(dir: string): Promise<boolean> {
  const st = await stat(dir)
  if (st.uid === 1000) return (st.mode & 0o300) === 0o300
  if (st.gid === 1000 && (st.mode & 0o030) === 0o030) return true
  return (st.mode & 0o003) === 0o003
}

/** A FIFO the host reads: opened before the container writes, EOF once every writer is gone. */
interface FifoReader {
  socket: Socket
  keep?: number
  ended: Promise<void>
  /** Drops the host's own writer end, so that EOF comes when the container's writers close. */
  release(): void
}

function openFifo(path: string, onData: (b: Buffer) => void): FifoReader {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK)
  // Holding a writer keeps the reader from seeing EOF before the container opens the FIFO.
  const keep = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK)
  const socket = new Socket({fd, readable: true, writable: false})
  const ended = new Promise<void>((r) => {
    socket.on('end', () => r())
    socket.on('close', () => r())
    socket.on('error', () => r())
  })
  socket.on('data', onData)
  const reader: FifoReader = {
    socket,
    keep,
    ended,
    release() {
      if (reader.keep !== undefined) closeSync(reader.keep)
      reader.keep = undefined
    },
  }
  return reader
}

function tailOf(text: string, lines = 8): string {
  return text.split('\n').filter((l) => l.trim()).slice(-lines).join('\n')
}

/** A predicate: whether an IPv4 address (or ::ffff:-mapped one) lies in `cidr`. */
export function inSubnet(cidr: string): (address: string) => boolean {
  const [net, bits] = cidr.split('/') as [string, string]
  const toInt = (a: string) => a.split('.').reduce((n, o) => (n << 8) + Number(o), 0) >>> 0
  const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0
  const base = (toInt(net) & mask) >>> 0
  return (address: string) => {
    const a = address.startsWith('::ffff:') ? address.slice(7) : address
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(a)) return false
    return ((toInt(a) & mask) >>> 0) === base
  }
}

function envList(env: Record<string, string>): string[] {
  return Object.entries(env).map(([k, v]) => `${k}=${v}`)
}

export class DockerDriver implements VmDriver {
  readonly name = 'docker'

  async available(env: NodeJS.ProcessEnv = process.env): Promise<{ok: boolean; reason?: string}> {
    const sock = engineSocket(env)
    if (!sock.path) return {ok: false, reason: sock.reason}
    try {
      await connectEngine(env)
    } catch (e) {
      return {ok: false, reason: (e as Error).message}
    }
    const fw = await firewallUsable()
    if (fw) return {ok: false, reason: fw}
    const bb = isStaticBusybox(busyboxPath(env))
    if (bb) return {ok: false, reason: bb}
    return {ok: true}
  }

  async run(spec: VmSpec, options: RunOptions = {}): Promise<VmResult> {
    const env = options.env ?? process.env
    const tPrep = Date.now()
    // Checks first: nothing is created for a spec that cannot run.
    const ws = resolve(spec.workspace)
    if (ws === '/' || ws === resolve(homedir())) throw new VmError('VM_SPEC', `refusing to share ${ws} as the workspace: pick a project directory`)
    if (!(await stat(ws).catch(() => undefined))?.isDirectory()) throw new VmError('VM_SPEC', `workspace ${spec.workspace} is not a directory`)
    for (const l of spec.kitLayers) {
      if (!(await stat(l).catch(() => undefined))?.isDirectory()) throw new VmError('VM_SPEC', `kit layer ${l} is not a directory`)
    }
    if (!(await stat(spec.rootfs).catch(() => undefined))?.isDirectory()) throw new VmError('VM_SPEC', `root filesystem ${spec.rootfs} is not a directory`)
    const workdir = spec.workdir ?? '/workspace'
    if (!/^\/[A-Za-z0-9._/-]*$/.test(workdir) || workdir.split('/').includes('..') || workdir === '/' || workdir.startsWith('/.kit')) {
      throw new VmError('VM_SPEC', `workdir ${JSON.stringify(workdir)} must be an absolute path of plain characters`)
    }
    // A terminal run: the plan's command only holds the container open; the command itself runs
    // as a docker exec on a pty of its own (a controlling terminal, ^C to its process group).
    const terminal = options.terminal
    const terminalArgv = spec.command ?? spec.plan.entrypoint
    if (terminal && (!terminalArgv || terminalArgv.length === 0)) throw new VmError('VM_SPEC', 'no command and no entrypoint to run')
    const busybox = busyboxPath(env)
    const bbProblem = isStaticBusybox(busybox)
    if (bbProblem) throw new VmError('VM_SPEC', bbProblem)
    const fw = await firewallUsable()
    if (fw) throw new DockerError('DOCKER_NETWORK', fw)
    const docker = await connectEngine(env)

    const warn = options.warn ?? ((line: string) => process.stderr.write(`kit: warning: ${line}\n`))
    warn(KERNEL_WARNING)
    if (!(await writableByAgent(ws))) {
      warn(`the workspace ${ws} is not writable by uid 1000 (the agent in the container): the agent cannot write to it (chown it to 1000, or make it group/other writable)`)
    }

    // What a killed earlier run of this sandbox left behind.
    await cleanupDockerSandbox(spec.name, {env, exceptPid: process.pid})
    const image = await ensureRootfsImage(docker, spec.rootfs, spec.rootfsId, options.progress)

    const home = homeLabel(env)
    const rand = randomBytes(4).toString('hex')
    const bridge = `kitbr-${rand}`
    const netName = `kit-${spec.name}-${rand}`
    const labels = {[LABEL_SANDBOX]: spec.name, [LABEL_HOME]: home, [LABEL_PID]: String(process.pid)}
    const comment = ruleComment(home, spec.name, process.pid)

    const runDir = await mkdtemp(join(tmpdir(), 'kit-docker-'))
    const rules: Rule[] = []
    let network: Docker.Network | undefined
    let container: Docker.Container | undefined
    let forwarder: Forwarder | undefined
    const fifos: FifoReader[] = []
    const timers: NodeJS.Timeout[] = []
    const execs = new Set<() => void>()
    try {
      const assets = guestAssetsDir()
      const stage2 = join(assets, 'stage2.sh')
      const init = join(assets, 'docker-init.sh')

      // The bridge's firewall before the bridge exists: the interface name is chosen here.
      const rejects = bridgeRules(bridge, comment)
      await insertRules(rejects)
      rules.push(...rejects)
      try {
        network = await docker.createNetwork({
          Name: netName,
          Driver: 'bridge',
          Internal: true,
          CheckDuplicate: true,
          EnableIPv6: false,
          Labels: labels,
          Options: {'com.docker.network.bridge.name': bridge, 'com.docker.network.bridge.enable_icc': 'false'},
        })
      } catch (e) {
        throw new DockerError('DOCKER_NETWORK', `cannot create the sandbox network: ${engineMessage(e)}`)
      }
      const netInfo = await network.inspect()
      const gateway = (netInfo.IPAM?.Config ?? []).map((c: {Gateway?: string}) => c.Gateway).find((g: string | undefined) => g && !g.includes(':'))
      if (!gateway) throw new DockerError('DOCKER_NETWORK', `the sandbox network ${netName} has no IPv4 gateway`)
      if (spec.proxy) {
        const accept = bridgeRules(bridge, comment, {gateway, port: GUEST_PROXY_PORT})
        await insertRules(accept)
        rules.push(...accept)
        const subnet = (netInfo.IPAM?.Config ?? []).map((c: {Subnet?: string}) => c.Subnet).find((n: string | undefined) => n && !n.includes(':'))
        forwarder = await startForwarder({host: gateway, port: GUEST_PROXY_PORT}, spec.proxy, subnet ? inSubnet(subnet) : () => false)
      }

      const {agentEnv, rootEnv} = guestEnvironments(spec, `http://${gateway}:${GUEST_PROXY_PORT}`)
      const hostname = guestHostname(spec.name)
      let compiled
      try {
        compiled = compilePlan(spec.plan, {hostname, workdir, layers: spec.kitLayers.length, caCertPem: spec.caCertPem, agentEnv, rootEnv, command: terminal ? ['/.kit/bin/busybox', 'sleep', '2147483647'] : spec.command})
      } catch (error) {
        throw new VmError('VM_SPEC', (error as Error).message)
      }
      for (const [path, f] of compiled.files) {
        const p = join(runDir, 'plan', path)
        await mkdir(dirname(p), {recursive: true, mode: 0o700})
        await writeFile(p, f.data, {mode: f.mode})
      }
      for (const f of FIFOS) {
        const r = spawnSync('mkfifo', ['-m', '0600', join(runDir, f)])
        if (r.status !== 0) throw new DockerError('DOCKER_GUEST', `mkfifo ${join(runDir, f)} failed`)
      }

      const binds = [
        `${busybox}:${HOST_DIR}/busybox:ro`,
        `${init}:${HOST_DIR}/init.sh:ro`,
        `${stage2}:${HOST_DIR}/stage2.sh:ro`,
        `${runDir}:${HOST_DIR}/run:rw`,
        ...spec.kitLayers.map((l, n) => `${resolve(l)}:/.kit/layers/${n}:ro`),
        `${ws}:${workdir}:rw`,
      ]
      const memory = (spec.memoryMiB ?? 1024) * 1024 * 1024
      const seccomp = await sandboxSeccompProfile(env)
      try {
        container = await docker.createContainer({
          name: `kit-${spec.name}-${rand}`,
          Image: image.tag,
          Hostname: hostname,
          User: '0:0',
          WorkingDir: '/',
          Entrypoint: [`${HOST_DIR}/busybox`, 'sh', `${HOST_DIR}/init.sh`],
          Cmd: [],
          Env: [`PATH=${DEFAULT_PATH}`],
          Labels: labels,
          AttachStdin: false,
          AttachStdout: false,
          AttachStderr: false,
          Tty: false,
          OpenStdin: false,
          NetworkDisabled: false,
          HostConfig: {
            Binds: binds,
            NetworkMode: netName,
            Dns: [gateway],
            DnsSearch: [],
            DnsOptions: [],
            CapDrop: ['ALL'],
            CapAdd: CAPABILITIES,
            SecurityOpt: ['no-new-privileges', `seccomp=${seccomp}`],
            Privileged: false,
            ReadonlyRootfs: false,
            IpcMode: 'private',
            PidMode: '',
            CgroupnsMode: 'private',
            Sysctls: {'net.ipv6.conf.all.disable_ipv6': '1', 'net.ipv6.conf.default.disable_ipv6': '1', 'net.ipv6.conf.lo.disable_ipv6': '1'},
            NanoCpus: Math.round((spec.cpus ?? 2) * 1e9),
            Memory: memory,
            MemorySwap: memory,
            PidsLimit: 4096,
            AutoRemove: false,
            Init: false,
            LogConfig: {Type: 'json-file', Config: {'max-size': '1m'}},
          },
        } as Docker.ContainerCreateOptions)
      } catch (e) {
        throw new DockerError('DOCKER_ENGINE', `cannot create the sandbox container: ${engineMessage(e)}`)
      }

      const stdoutChunks: Buffer[] = []
      const stderrChunks: Buffer[] = []
      const sink = (w: Writable | undefined, chunks: Buffer[]) => (b: Buffer) => (w ? w.write(b) : chunks.push(b))
      const status = new GuestStatus()
      const readers: Record<FifoName, (b: Buffer) => void> = {
        status: (b) => status.write(b),
        log: (b) => options.setupLog?.write(b),
        stdout: sink(options.stdout, stdoutChunks),
        stderr: sink(options.stderr, stderrChunks),
      }
      for (const f of FIFOS) fifos.push(openFifo(join(runDir, f), readers[f]))

      let stopReason: VmError | undefined
      const stop = (e: VmError) => {
        stopReason ??= e
        container?.kill({signal: 'SIGKILL'}).catch(() => {})
      }
      const bootTimeout = options.bootTimeoutMs ?? 120_000
      const bootTimer = setTimeout(() => stop(new VmError('VM_BOOT', `the container did not start the command within ${bootTimeout} ms`)), bootTimeout)
      timers.push(bootTimer)
      if (options.timeoutMs) timers.push(setTimeout(() => stop(new VmError('VM_TIMEOUT', `the sandbox ran longer than ${options.timeoutMs} ms and was killed`)), options.timeoutMs))
      const onAbort = () => stop(new VmError('VM_TIMEOUT', 'the run was cancelled'))
      if (options.signal?.aborted) throw new VmError('VM_TIMEOUT', 'the run was cancelled')
      options.signal?.addEventListener('abort', onAbort, {once: true})

      const c = container
      let terminalExec: Docker.Exec | undefined
      let terminalExit: number | undefined
      let terminalError: Error | undefined
      const handle: RunningSandbox = {
        exec: (argv: string[], io: ExecIo) => this.exec(docker, c, argv, io, workdir, agentEnv, execs),
        ...(terminal ? {resize: (rows: number, cols: number) => void terminalExec?.resize({h: rows, w: cols}).catch(() => {})} : {}),
      }
      const startTerminal = async (t: NonNullable<RunOptions['terminal']>, argv: string[]) => {
        try {
          const ex = await c.exec({
            Cmd: argv, User: '1000', WorkingDir: workdir, Env: envList({TERM: env.TERM || 'xterm', ...agentEnv}),
            AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: true,
          })
          terminalExec = ex
          const stream = (await ex.start({hijack: true, stdin: true, Tty: true})) as NodeJS.ReadWriteStream & {destroy(): void}
          if (t.rows && t.cols) await ex.resize({h: t.rows, w: t.cols}).catch(() => {})
          t.input.pipe(stream)
          stream.on('data', (b: Buffer) => t.output.write(b))
          await new Promise<void>((r) => {
            stream.on('end', () => r())
            stream.on('close', () => r())
            stream.on('error', () => r())
          })
          t.input.unpipe(stream)
          for (let i = 0; i < 50 && terminalExit === undefined; i++) {
            const info = await ex.inspect()
            if (!info.Running) terminalExit = info.ExitCode ?? -1
            else await new Promise((r) => setTimeout(r, 100))
          }
        } catch (e) {
          terminalError = e as Error
        }
        await c.kill({signal: 'SIGKILL'}).catch(() => {})
      }
      status.onStart = () => {
        clearTimeout(bootTimer)
        if (terminal) void startTerminal(terminal, terminalArgv!)
        try {
          options.onRunning?.(handle)
        } catch {
          // the caller's handler failing does not stop the sandbox
        }
      }

      status.t0 = Date.now()
      try {
        await container.start()
      } catch (e) {
        throw new DockerError('DOCKER_ENGINE', `cannot start the sandbox container: ${engineMessage(e)}`)
      }
      let exitStatus: number
      try {
        exitStatus = ((await container.wait()) as {StatusCode: number}).StatusCode
      } catch (e) {
        throw new DockerError('DOCKER_ENGINE', `lost the sandbox container: ${engineMessage(e)}`)
      }
      options.signal?.removeEventListener('abort', onAbort)
      const durationMs = Date.now() - status.t0
      // Every writer in the container is gone: drop ours, read to EOF (bounded).
      for (const f of fifos) f.release()
      await Promise.race([Promise.all(fifos.map((f) => f.ended)), new Promise((r) => setTimeout(r, 3000))])

      if (stopReason) throw new VmError(stopReason.code, `${spec.name}: ${stopReason.message}`)
      if (status.failure) throw new VmError('VM_GUEST', `${spec.name}: ${status.failure} (kit logs ${spec.name} shows the setup log)`)
      if (terminal && terminalError) throw new DockerError('DOCKER_ENGINE', `${spec.name}: the terminal could not be attached: ${engineMessage(terminalError)}`)
      // A terminal run's command is a docker exec: its exit code is the exec's, not the plan command's.
      const exitCode = terminal ? terminalExit : status.exitCode
      if (exitCode === undefined) {
        const logs = await container.logs({stdout: true, stderr: true, tail: 20}).then((b) => String(b).replace(/[\x00-\x08]/g, ''), () => '')
        const started = status.started
        throw new DockerError('DOCKER_GUEST', `${spec.name}: the container ${started ? 'stopped before the command finished' : 'failed before the command started'} (container exit ${exitStatus})${logs.trim() ? `\n${tailOf(logs, 6)}` : ''}`)
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
        accel: 'container',
      }
    } finally {
      for (const t of timers) clearTimeout(t)
      for (const k of execs) k()
      for (const f of fifos) {
        f.release()
        f.socket.destroy()
      }
      await forwarder?.close().catch(() => {})
      if (container) await container.remove({force: true, v: true}).catch(() => {})
      if (network) await network.remove().catch(() => {})
      const left = await deleteRules(rules)
      if (left.length > 0) warn(`${left.length} firewall rule(s) of ${spec.name} could not be removed (kit rm ${spec.name} retries)`)
      if (!options.keepRunDir) await rm(runDir, {recursive: true, force: true})
    }
  }

  /** `kit exec` in the running container: as uid 1000, in the workspace, with the agent's environment. */
  private async exec(docker: Docker, container: Docker.Container, argv: string[], io: ExecIo, workdir: string, agentEnv: Record<string, string>, execs: Set<() => void>): Promise<number> {
    if (argv.length === 0) throw new VmError('VM_SPEC', 'exec: empty command')
    const env = {...agentEnv, ...(io.env ?? {})}
    let ex: Docker.Exec
    try {
      ex = await container.exec({Cmd: argv, User: '1000', WorkingDir: io.cwd ?? workdir, Env: envList(env), AttachStdin: false, AttachStdout: true, AttachStderr: true, Tty: false})
    } catch (e) {
      throw new DockerError('DOCKER_ENGINE', `exec in the sandbox failed: ${engineMessage(e)}`)
    }
    const stream = (await ex.start({hijack: true, stdin: false})) as NodeJS.ReadWriteStream & {destroy(): void}
    docker.modem.demuxStream(stream, io.stdout, io.stderr)
    const kill = () => {
      void ex.inspect().then((i) => {
        if (i.Running && i.Pid) {
          try {
            process.kill(i.Pid, 'SIGKILL')
          } catch {
            // already gone
          }
        }
      }, () => {})
      stream.destroy()
    }
    execs.add(kill)
    io.signal?.addEventListener('abort', kill, {once: true})
    try {
      await new Promise<void>((r) => {
        stream.on('end', () => r())
        stream.on('close', () => r())
        stream.on('error', () => r())
      })
      for (let i = 0; i < 50; i++) {
        const info = await ex.inspect()
        if (!info.Running) return info.ExitCode ?? -1
        await new Promise((r) => setTimeout(r, 100))
      }
      return -1
    } finally {
      execs.delete(kill)
      io.signal?.removeEventListener('abort', kill)
    }
  }
}
