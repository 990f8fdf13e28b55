// `kit run --detach`: the same `kit run`, started as a background process that owns the sandbox
// (its VM or container and its proxy), its output in the sandbox's detached.log. This returns once
// the sandbox runs and answers on its control socket (so `kit exec NAME` works at once), or says
// in one line why it did not start.
import {spawn} from 'node:child_process'
import {existsSync, openSync, closeSync, fstatSync, readSync} from 'node:fs'
import {mkdir, rm} from 'node:fs/promises'
import {join} from 'node:path'
import {SandboxError} from './errors.js'
import {checkSandboxName, liveState, readState, sandboxDir} from './state.js'

export interface DetachedSandbox {
  name: string
  /** The background `kit run` process. */
  pid: number
  /** Its stdout and stderr. */
  log: string
}

/** The last error line (`kit: ...`, not a warning) a failed `kit run` printed, read from the log's descriptor (a new sandbox that failed has removed its directory, the log with it). */
function lastError(fd: number): string | undefined {
  const buf = Buffer.alloc(Math.min(fstatSync(fd).size, 1 << 20))
  const text = buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('utf8')
  return text.split('\n').filter((l) => l.startsWith('kit: ') && !l.startsWith('kit: warning')).pop()?.slice('kit: '.length)
}

/**
 * Starts `cli ARGS` (a `kit run` that must not detach again) in the background for sandbox `name`
 * and waits until it runs. `cli` is the command line of kit itself (node and its bin script).
 */
export async function runDetached(cli: string[], args: string[], name: string, opts: {env?: NodeJS.ProcessEnv; timeoutMs?: number} = {}): Promise<DetachedSandbox> {
  const env = opts.env ?? process.env
  checkSandboxName(name)
  const dir = sandboxDir(name, env)
  const fresh = !existsSync(join(dir, 'sandbox.json'))
  await mkdir(dir, {recursive: true, mode: 0o700})
  const log = join(dir, 'detached.log')
  const fd = openSync(log, 'w+', 0o600)
  const child = spawn(cli[0]!, [...cli.slice(1), ...args], {detached: true, stdio: ['ignore', fd, fd], env})
  let exited: number | null | undefined
  child.on('exit', (code) => (exited = code))
  child.unref()
  const deadline = Date.now() + (opts.timeoutMs ?? 600_000)
  for (;;) {
    const st = await readState(name, env).catch(() => undefined)
    if (st && st.pid === child.pid && liveState(st) === 'running' && st.control) {
      closeSync(fd)
      return {name, pid: child.pid!, log}
    }
    if (exited !== undefined) {
      const why = lastError(fd) ?? `it exited ${exited}${existsSync(log) ? ` (see ${log})` : ''}`
      closeSync(fd)
      // A sandbox that never got a definition leaves nothing behind.
      if (fresh && !existsSync(join(dir, 'sandbox.json'))) await rm(dir, {recursive: true, force: true})
      throw new SandboxError('SANDBOX_STATE', `sandbox ${name} did not start: ${why}`)
    }
    if (Date.now() > deadline) {
      closeSync(fd)
      try {
        process.kill(child.pid!, 'SIGTERM')
      } catch {
        // gone
      }
      throw new SandboxError('SANDBOX_STATE', `sandbox ${name} did not start within ${Math.round((opts.timeoutMs ?? 600_000) / 1000)} s (see ${log})`)
    }
    await new Promise((r) => setTimeout(r, 200))
  }
}
