// The contract between the sandbox runtime and a VM (or container) driver. A driver runs the
// guest plan and one command to completion (`run`); while that command runs, `onRunning` hands the
// caller a handle to run more commands in the same sandbox (`kit exec`).
import type {Readable, Writable} from 'node:stream'
import type {GuestPlan} from './plan.js'

export interface VmSpec {
  name: string
  /** A directory holding the unpacked agent image root filesystem (read-only lower layer). */
  rootfs: string
  /** A stable identity of `rootfs` (e.g. the image digest): disk images are cached by it without walking the tree. */
  rootfsId?: string
  /** Directories, each holding home/agent/... and workspace/... trees of one kit, in stack order. */
  kitLayers: string[]
  /** Host directory shared read-write with the guest. */
  workspace: string
  /** Where the workspace appears in the guest (default /workspace). */
  workdir?: string
  /** Host-side HTTP proxy; the guest reaches it as http://10.0.2.100:3128. Without it: no NIC. */
  proxy?: {host: string; port: number}
  /** Guest environment of the agent (placeholders only; never real secrets). */
  env: Record<string, string>
  /** What the guest init does, in order. */
  plan: GuestPlan
  /** Run as uid 1000 in the workspace; when absent, plan.entrypoint. */
  command?: string[]
  /** The proxy's CA certificate, installed into the guest trust store. */
  caCertPem?: string
  cpus?: number
  memoryMiB?: number
}

export interface RunOptions {
  /** Where the command's stdout/stderr go as they arrive; when absent they are collected. */
  stdout?: Writable
  stderr?: Writable
  /** Setup output of the guest init (install commands, startup commands). */
  setupLog?: Writable
  /** Kill the VM after this long (default: none). */
  timeoutMs?: number
  /** Fail when the command has not started after this long (default 180 s under TCG, 60 s with KVM). */
  bootTimeoutMs?: number
  /** Keep the run directory (console log, plan, sockets) for debugging. */
  keepRunDir?: boolean
  signal?: AbortSignal
  env?: NodeJS.ProcessEnv
  /**
   * Run the command on a terminal in the guest (an interactive agent): bytes of `input` are typed
   * into it, its output (stdout and stderr together, as on any terminal) goes to `output`.
   */
  terminal?: TerminalIo
  /** Called once the command has started, with a handle on the running sandbox. */
  onRunning?: (sandbox: RunningSandbox) => void
  /** Warnings for the user (one line each, without the `kit: warning:` prefix); default: stderr. */
  warn?: (line: string) => void
  /** Progress lines of slow first-time stages (kernel fetch, root image build), for the CLI. */
  progress?: (line: string) => void
}

export interface TerminalIo {
  input: Readable
  output: Writable
  rows?: number
  cols?: number
}

export interface ExecIo {
  stdout: Writable
  stderr: Writable
  /** Working directory in the guest (default: the workspace). */
  cwd?: string
  /** Extra environment (placeholders only; never secrets). */
  env?: Record<string, string>
  /** Kills the command. */
  signal?: AbortSignal
}

/** A sandbox whose command is running: more commands run beside it, as the agent (uid 1000). */
export interface RunningSandbox {
  /** Runs argv in the running sandbox; resolves to its exit code. */
  exec(argv: string[], io: ExecIo): Promise<number>
  /** The terminal's new size (interactive runs). */
  resize?(rows: number, cols: number): void
}

export interface VmResult {
  exitCode: number
  /** From starting the VM process to the guest's last instruction before the command (ms). */
  bootMs: number
  /** Guest uptime (s) when the command started. */
  guestUptimeAtStart?: number
  /** Before the VM process starts: kernel, initramfs and root image (cached after the first run) (ms). */
  prepMs: number
  /** Whole run, VM start to VM exit (ms). */
  durationMs: number
  /** Collected output when RunOptions.stdout/stderr were not given. */
  stdout: Buffer
  stderr: Buffer
  driver: string
  accel: string
  /** Console log of the run (kept only with keepRunDir). */
  consoleLog?: string
}

/**
 * A driver: `qemu` (runtime/vm/qemu.ts, a microVM with its own kernel) or `docker`
 * (runtime/docker/driver.ts, a container sharing the host kernel): the same plan, run by the same
 * stage-2 guest script.
 */
export interface VmDriver {
  readonly name: string
  /** Whether the driver can run here; `reason` says what is missing. */
  available(env?: NodeJS.ProcessEnv): Promise<{ok: boolean; reason?: string}>
  /** Boots a sandbox, runs its plan and command, powers off; cleans up on every path. */
  run(spec: VmSpec, options?: RunOptions): Promise<VmResult>
}
