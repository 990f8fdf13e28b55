// `kit exec` into a running VM, host side. The guest's exec server (runtime/guest/stage2.sh) reads
// request lines on the virtio-serial port kit.exec; a request's argv, cwd and extra env are files
// in a directory of the exec share (9p, the host's run directory), and the command's stdout and
// stderr come back as files there, which this streams while the command runs. The guest answers
// `done ID CODE` on the port once the command has exited and its output is written.
//
// The guest (root there, or the agent: the share's files are its own) can replace anything in the
// share with a symlink or a FIFO at any moment. So the host never resolves a path through the
// share: it opens the share and each request directory once (O_DIRECTORY|O_NOFOLLOW) and reaches
// entries through /proc/self/fd/DIRFD/NAME (the open directory, whatever its path now names),
// creates its files with O_EXCL|O_NOFOLLOW, reads with O_NOFOLLOW|O_NONBLOCK (regular files only)
// and removes only the names it made (unlink and rmdir do not follow a last symlink).
import {randomBytes} from 'node:crypto'
import {constants} from 'node:fs'
import {mkdir, open, rmdir, unlink, type FileHandle} from 'node:fs/promises'
import type {Writable} from 'node:stream'
import {setTimeout as sleep} from 'node:timers/promises'
import type {ExecIo, RunningSandbox} from './driver.js'
import {VmError} from './errors.js'
import {shQuote} from './plan.js'

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const POLL_MS = 40
const KILL_GRACE_MS = 3000
const {O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_DIRECTORY, O_NONBLOCK} = constants
const REQUEST_FILES = ['argv', 'cwd', 'env.sh', 'stdout', 'stderr'] as const

/** NAME in the directory open as `dir`, resolved through the descriptor, never through a path. */
function under(dir: FileHandle, name: string): string {
  return `/proc/self/fd/${dir.fd}/${name}`
}

/** Creates NAME in `dir` (refused if anything, a symlink included, is already there). */
async function create(dir: FileHandle, name: string, text: string): Promise<void> {
  const fh = await open(under(dir, name), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o666)
  try {
    await fh.writeFile(text)
  } finally {
    await fh.close()
  }
}

interface Pending {
  done: (code: number) => void
  fail: (e: Error) => void
}

/** Streams what the guest appends to one output file. */
class FileTail {
  private fh?: FileHandle
  private pos = 0
  private readonly buf = Buffer.alloc(64 * 1024)
  constructor(private readonly path: string, private readonly out: Writable) {}

  async pump(): Promise<void> {
    this.fh ??= await this.openRegular()
    if (!this.fh) return
    for (;;) {
      const {bytesRead} = await this.fh.read(this.buf, 0, this.buf.length, this.pos)
      if (bytesRead === 0) return
      this.pos += bytesRead
      this.out.write(Buffer.from(this.buf.subarray(0, bytesRead)))
    }
  }

  /** The file when it is a regular file (a symlink: ELOOP; a FIFO or device: refused, no blocking). */
  private async openRegular(): Promise<FileHandle | undefined> {
    const fh = await open(this.path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK).catch(() => undefined)
    if (fh && !(await fh.stat()).isFile()) {
      await fh.close()
      return undefined
    }
    return fh
  }

  async close(): Promise<void> {
    await this.fh?.close().catch(() => {})
  }
}

export class GuestExecChannel implements RunningSandbox {
  private readonly pending = new Map<string, Pending>()
  private lineBuf = ''
  private closed?: Error
  private root?: Promise<FileHandle>

  /**
   * @param dir host directory shared with the guest as /.kit/x/exec
   * @param send writes one request line to the kit.exec port; false when the port is not connected
   */
  constructor(private readonly dir: string, private readonly send: (line: string) => boolean) {}

  /** Bytes from the kit.exec port. */
  onData(b: Buffer): void {
    this.lineBuf += b.toString('utf8')
    let nl
    while ((nl = this.lineBuf.indexOf('\n')) >= 0) {
      const [verb, id, code] = this.lineBuf.slice(0, nl).trim().split(' ')
      this.lineBuf = this.lineBuf.slice(nl + 1)
      if (verb === 'done' && id) this.pending.get(id)?.done(Number(code))
    }
  }

  /** The sandbox stopped: commands still running fail with `reason`. */
  close(reason: Error): void {
    this.closed ??= reason
    this.root?.then((fh) => fh.close()).catch(() => {})
    this.root = undefined
    for (const p of this.pending.values()) p.fail(reason)
    this.pending.clear()
  }

  resize(rows: number, cols: number): void {
    if (this.closed || !Number.isInteger(rows) || !Number.isInteger(cols) || rows <= 0 || cols <= 0) return
    this.send(`winsize ${rows} ${cols}\n`)
  }

  async exec(argv: string[], io: ExecIo): Promise<number> {
    if (this.closed) throw new VmError('VM_STATE', `the sandbox is not running: ${this.closed.message}`)
    if (argv.length === 0) throw new VmError('VM_SPEC', 'exec: no command')
    const cwd = io.cwd ?? ''
    if (cwd && (!cwd.startsWith('/') || /[\0-\x1f]/.test(cwd))) throw new VmError('VM_SPEC', `exec: working directory ${JSON.stringify(cwd)} must be an absolute path`)
    let envScript = ''
    for (const [k, v] of Object.entries(io.env ?? {})) {
      if (!ENV_NAME.test(k)) throw new VmError('VM_SPEC', `exec: environment variable name ${JSON.stringify(k)} is not valid`)
      envScript += `export ${k}=${shQuote(v)}\n`
    }
    let argvLine: string
    try {
      argvLine = argv.map(shQuote).join(' ')
    } catch (error) {
      throw new VmError('VM_SPEC', `exec: ${(error as Error).message}`)
    }
    const id = randomBytes(8).toString('hex')
    this.root ??= open(this.dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
    const root = await this.root
    await mkdir(under(root, id), {mode: 0o700})
    const d = await open(under(root, id), O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
    try {
      for (const [name, text] of [['argv', argvLine], ['cwd', cwd], ['env.sh', envScript], ['stdout', ''], ['stderr', '']]) await create(d, name!, text!)
    } catch (error) {
      await removeRequest(root, id, d)
      throw error
    }
    const tails = [new FileTail(under(d, 'stdout'), io.stdout), new FileTail(under(d, 'stderr'), io.stderr)]
    let finished: {code?: number; error?: Error} | undefined
    let wake: (() => void) | undefined
    const settle = (f: {code?: number; error?: Error}) => {
      finished ??= f
      this.pending.delete(id)
      wake?.()
    }
    this.pending.set(id, {done: (code) => settle({code}), fail: (error) => settle({error})})
    let killTimer: NodeJS.Timeout | undefined
    const onAbort = () => {
      this.send(`kill ${id} TERM\n`)
      killTimer = setTimeout(() => this.send(`kill ${id} KILL\n`), KILL_GRACE_MS)
    }
    io.signal?.addEventListener('abort', onAbort, {once: true})
    try {
      if (!this.send(`run ${id}\n`)) throw new VmError('VM_STATE', 'the sandbox\'s exec port is not connected')
      if (io.signal?.aborted) onAbort()
      while (!finished) {
        for (const t of tails) await t.pump()
        if (finished) break
        await Promise.race([sleep(POLL_MS), new Promise<void>((r) => (wake = r))])
      }
      // "done" comes after the command exited and its output reached the share: take the rest.
      for (const t of tails) await t.pump()
      if (finished.error) throw finished.error
      return finished.code ?? 1
    } finally {
      this.pending.delete(id)
      clearTimeout(killTimer)
      io.signal?.removeEventListener('abort', onAbort)
      for (const t of tails) await t.close()
      await removeRequest(root, id, d)
    }
  }
}

/** Removes what the host made for one request (what the guest added stays until the run ends). */
async function removeRequest(root: FileHandle, id: string, d: FileHandle): Promise<void> {
  for (const name of REQUEST_FILES) await unlink(under(d, name)).catch(() => {})
  await d.close().catch(() => {})
  await rmdir(under(root, id)).catch(() => {})
}
